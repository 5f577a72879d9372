"""The overview: jobs by status, the queue per model, the last 24 hours, the scheduler's
health and the workers seen."""

from flask import redirect, render_template, request, url_for

from .. import queuestats, workjobs
from ..errors import RateLimited, Unauthorized
from ..resources.health import scheduler_health
from ..states import STATUSES
from ..timeutil import utcnow
from . import charts, signin
from .web import WATCH, blp, can, page, user

COLORS = {"created": "#4e79a7", "processed": "#59a14f", "failed": "#e15759"}


@blp.route("/")
def overview():
    return page("dashboard/overview.html", **figures(),
                fragment=("overview-live", "dashboard/_overview_live.html"))


def figures(now=None):
    """What the overview shows the signed-in user."""
    now, current = now or utcnow(), user()
    admin = current.role == "admin"
    models = queuestats.by_model(now) if can(WATCH) else None
    if admin:  # the counts the triggers keep: no count over a big table
        counts = dict.fromkeys(STATUSES, 0)
        for model in models:
            for status, number in model["counts"].items():
                counts[status] += number
        counts["total"] = sum(counts.values())
    else:
        counts = workjobs.summarize(current, {})
    day = queuestats.last_day(workjobs.visible_jobs(current), now,
                              client_id=None if admin else current.id)
    chart = charts.hourly({name: day[name] for name in COLORS}, COLORS)
    return {"counts": counts, "statuses": STATUSES, "models": models, "day": day,
            "chart": chart, "colors": COLORS, "totals": {
                name: sum(day[name]) for name in COLORS},
            "scheduler": scheduler_health(),
            "workers": queuestats.workers(now) if can(WATCH) else None, "now": now}


@blp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; failures go through the login lockout like the API's."""
    target = request.values.get("next") or ""
    if not target.startswith("/dashboard") or "//" in target:
        target = url_for("dashboard.overview")
    if request.method == "GET":
        if signin.current_user() is not None:
            return redirect(target)
        return render_template("dashboard/login.html", next=target)
    username = request.form.get("username", "")
    try:
        signin.sign_in(username, request.form.get("password", ""))
    except (Unauthorized, RateLimited) as error:
        headers = {"Retry-After": str(error.retry_after)} if error.code == 429 else {}
        return render_template("dashboard/login.html", next=target, username=username,
                               error=error.message), error.code, headers
    return redirect(target)


@blp.route("/logout", methods=["POST"])
def logout():
    signin.sign_out()
    return redirect(url_for("dashboard.login"))
