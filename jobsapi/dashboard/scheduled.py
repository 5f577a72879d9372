"""Scheduled jobs: each one's schedule in words, next run, last result and recent runs;
enable, disable, start, stop, trigger and a new schedule (previewed first); run logs."""

from flask import flash, redirect, render_template, request, url_for

from schedules import InvalidSchedule, validate_schedule
from schedules.models import RESULTS

from .. import activity, database, scheduled
from ..errors import InvalidInput
from ..scheduling import current_scheduler
from . import cronwords
from .web import SETTINGS, blp, is_htmx, page, require, user

STRIP = 30  # runs in a job's strip
LOG_PAGE = 20


def _runs(job_id, limit, offset=0, result=None):
    return scheduled.run_logs(limit, offset, job_id=job_id, result=result)


def _view(job, now):
    """A job as scheduled.describe gives it, with its schedule in words and its runs."""
    return {**job, "words": cronwords.describe(job["schedule"]),
            "nextIn": None if job["nextRun"] is None else job["nextRun"] - now,
            "strip": list(reversed(_runs(job["id"], STRIP)["logs"]))}


@blp.route("/scheduled")
@require(SETTINGS)
def scheduled_list():
    now = database.now()
    jobs = [_view(job, now) for job in scheduled.list_jobs()]
    return page("dashboard/scheduled.html", jobs=jobs,
                fragment=("scheduled-live", "dashboard/_scheduled_live.html"))


@blp.route("/scheduled/<job_id>")
@require(SETTINGS)
def scheduled_detail(job_id):
    now = database.now()
    job = _view(scheduled.get_job(job_id), now)
    result = request.args.get("result") or None
    if result is not None and result not in RESULTS:
        raise InvalidInput(f"result: one of {', '.join(RESULTS)}.")
    try:
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        raise InvalidInput("offset: a whole number.") from None
    return page("dashboard/scheduled_job.html", job=job, results=RESULTS, result=result,
                log=_runs(job_id, LOG_PAGE, offset, result), page_size=LOG_PAGE,
                fire_times=cronwords.next_fires(job["schedule"], job["timezone"], now),
                fragment=("scheduled-live", "dashboard/_scheduled_job_live.html"))


def _audit(action, job_id, details=None):
    activity.record(action, user=user(), resource="job", resource_id=job_id, details=details)


def _done(message, job_id):
    if is_htmx():
        return (render_template("dashboard/_done.html", message=message), 200,
                {"HX-Trigger": "scheduled-changed"})
    flash(message)
    target = request.form.get("next") or ""
    if not target.startswith("/dashboard/scheduled"):
        target = url_for("dashboard.scheduled_detail", job_id=job_id)
    return redirect(target)


@blp.route("/scheduled/<job_id>/<any(enable, disable, start, stop, trigger):action>",
           methods=["POST"])
@require(SETTINGS)
def scheduled_action(job_id, action):
    """The API's actions on a scheduled job, logged as the API logs them."""
    scheduler = current_scheduler()
    with scheduled.engine_errors():
        job_id = scheduled.checked_id(job_id)
        if action in ("enable", "disable"):
            changes = {"enabled": action == "enable"}
            scheduler.update(job_id, **changes)
            _audit("jobs.update", job_id, changes)
        elif action in ("start", "stop"):
            scheduler.set_stopped(job_id, action == "stop")
            _audit(f"jobs.{action}", job_id)
        else:
            run = scheduler.trigger(job_id, f"user:{user().id}")
            _audit("jobs.trigger", job_id, {"runId": run.id})
    past = {"stop": "stopped", "trigger": "triggered"}.get(action, action + "d")
    return _done(f"{job_id}: {past}.", job_id)


@blp.route("/scheduled/<job_id>/schedule", methods=["POST"])
@require(SETTINGS)
def scheduled_schedule(job_id):
    """A new schedule: shown with its next five fire times until confirmed, then saved."""
    job_id = scheduled.checked_id(job_id)
    expression = " ".join(request.form.get("schedule", "").split())
    try:
        validate_schedule(expression)
    except InvalidSchedule as error:
        raise InvalidInput(f"schedule: {error}") from None
    if request.form.get("confirmed") != "yes":
        timezone = current_scheduler().timezone
        template = "dashboard/_schedule_preview.html" if is_htmx() else \
            "dashboard/schedule_preview.html"
        return render_template(template, job_id=job_id, schedule=expression,
                               words=cronwords.describe(expression), timezone=timezone,
                               fire_times=cronwords.next_fires(expression, timezone, database.now()))
    with scheduled.engine_errors():
        current_scheduler().update(job_id, schedule=expression)
    _audit("jobs.update", job_id, {"schedule": expression})
    return _done(f"{job_id}: schedule set to {expression}.", job_id)

