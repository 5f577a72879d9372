"""The dashboard's blueprint and what its views share: sign-in and permission guards,
CSRF on every POST, pages and fragments, and errors as an HTML page."""

import functools
from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..auth import has_permission
from ..errors import (BatchRejected, DomainError, Forbidden, IllegalChange, InvalidInput,
                      JobNotFound, LeaseLost, ServiceError, error_body)
from ..errorhandlers import batch_rejected, illegal_change, job_not_found, lease_lost
from ..parsing import NUL_MESSAGE, refuses_nul
from . import formats, signin

blp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
                static_folder="static")
OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}
WATCH, SETTINGS, ACTIVITIES = "jobs.work", "settings.update", "activities.read"


@blp.before_request
def guard():
    """Every page but sign-in needs a signed-in user; every POST the CSRF token. On
    PostgreSQL, text holding NUL is refused, as the API refuses it there."""
    if refuses_nul() and any("\x00" in text for pairs in (request.args, request.form)
                             for item in pairs.items(multi=True) for text in item):
        raise InvalidInput(NUL_MESSAGE)
    if request.method == "POST":
        signin.check_csrf()
    if request.endpoint in OPEN_ENDPOINTS or signin.current_user() is not None:
        return None
    target = url_for("dashboard.login", next=request.full_path.rstrip("?"))
    if is_htmx():
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


def user():
    return signin.current_user()


def can(permission):
    """Whether the signed-in user holds `permission`."""
    current = user()
    return current is not None and has_permission(current, permission)


def require(permission):
    """A view decorator: Forbidden (403) without `permission`."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if not can(permission):
                raise Forbidden(f"This page requires the '{permission}' permission.")
            return func(*args, **kwargs)

        return wrapper

    return decorator


def is_htmx():
    return request.headers.get("HX-Request") == "true"


def page(template, **context):
    """A whole page, or with `fragment=` its fragment alone when htmx asks for it."""
    fragment = context.pop("fragment", None)
    if fragment and is_htmx() and request.headers.get("HX-Target") == fragment[0]:
        return render_template(fragment[1], **context)
    return render_template(template, **context)


@blp.context_processor
def shared():
    """What every dashboard template may use (given to the dashboard's pages only)."""
    return {"user": user(), "can": can, "csrf_token": signin.csrf_token,
            "job_list_url": job_list_url, "WATCH": WATCH, "SETTINGS": SETTINGS,
            "ACTIVITIES": ACTIVITIES}


def job_list_url(**filters):
    """The job list filtered by `filters` (empty ones left out)."""
    return url_for("dashboard.job_list") + "?" + urlencode(
        [(key, value) for key, value in filters.items() if value])


for _name in formats.FILTERS:
    blp.add_app_template_filter(getattr(formats, _name), _name)

# The API's answers to the work jobs' errors, read here for their status and message.
DOMAIN_ANSWERS = {JobNotFound: job_not_found, IllegalChange: illegal_change,
                  BatchRejected: batch_rejected, LeaseLost: lease_lost}


@blp.errorhandler(ServiceError)
@blp.errorhandler(DomainError)
@blp.errorhandler(HTTPException)
def error_page(error):
    """The one error shape, as a page (or, for htmx, a notice in the page's flash area)."""
    if isinstance(error, ServiceError):
        body = error_body(error.code, error.message)
    elif isinstance(error, HTTPException):
        body = error_body(error.code, error.description)
    elif type(error) in DOMAIN_ANSWERS:
        body = DOMAIN_ANSWERS[type(error)](error)[0].get_json()
    else:
        body = error_body(400, str(error))
    headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"} if is_htmx() else {}
    template = "dashboard/_error.html" if is_htmx() else "dashboard/error.html"
    return render_template(template, error=body), body["code"], headers
