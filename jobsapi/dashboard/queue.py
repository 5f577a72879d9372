"""Workers seen lately, and the models' limits: viewed by those who watch the queue,
changed by holders of settings.update (the API's rules)."""

from flask import flash, redirect, render_template, request, url_for

from .. import activity, database, limits, queuestats
from ..errors import Forbidden, InvalidInput
from ..schemas.limits import ModelLimitSchema
from .web import SETTINGS, WATCH, blp, can, is_htmx, page, require, user
from .selection import parse_time

NUMBERS = (("max_concurrency", "Max concurrency"), ("requests_per_minute", "Requests / min"),
           ("tokens_per_minute", "Tokens / min"))
MAX_COUNT = 1_000_000_000


@blp.route("/workers")
@require(WATCH)
def workers():
    return page("dashboard/workers.html", workers=queuestats.workers(), now=database.now(),
                fragment=("workers-live", "dashboard/_workers_live.html"))


@blp.route("/limits")
def model_limits():
    if not (can(WATCH) or can(SETTINGS)):
        raise Forbidden(f"This page requires the '{WATCH}' or the '{SETTINGS}' permission.")
    return page("dashboard/limits.html", models=queuestats.by_model(), numbers=NUMBERS,
                editable=can(SETTINGS), now=database.now(),
                fragment=("limits-live", "dashboard/_limits_live.html"))


def _limits_of(form):
    """The limits a form gives: blank is no limit."""
    values = {}
    for name, label in NUMBERS:
        text = form.get(name, "").strip()
        if text and (not text.isdigit() or int(text) > MAX_COUNT):
            raise InvalidInput(f"{label}: a whole number from 0 to {MAX_COUNT:,}, or blank.")
        values[name] = int(text) if text else None
    paused = form.get("paused_until", "").strip()
    values["paused_until"] = parse_time("paused until", paused) if paused else None
    return values


@blp.route("/limits", methods=["POST"])
@require(SETTINGS)
def set_model_limits():
    form = request.form
    model = form.get("model", "").strip()
    if not 1 <= len(model) <= 200:
        raise InvalidInput("model: 1 to 200 characters.")
    if form.get("remove") == "yes":
        limits.remove_limits(model)
        details, message = {"removed": True}, f"{model}: limits removed."
    else:
        limit = limits.set_limits(model, _limits_of(form))
        details, message = ModelLimitSchema().dump(limit), f"{model}: limits saved."
    activity.record("models.limits.update", user=user(), resource="model", resource_id=model,
                    details=details)
    if is_htmx():
        return (render_template("dashboard/_done.html", message=message), 200,
                {"HX-Trigger": "limits-changed"})
    flash(message)
    return redirect(url_for("dashboard.model_limits"))
