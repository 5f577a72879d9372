"""Scheduled jobs as the admin API shows them: status views and run-log pages."""

import contextlib

from schedules import AlreadyRunning, UnknownJob
from schedules.engine import NotScheduled
from schedules.models import JobRun, ScheduledJob

from .errors import Conflict, InvalidInput, NotFound
from .scheduling import current_scheduler
from .schemas.scheduled import JOB_ID_RE

EXECUTED = ("running", "success", "error", "interrupted")
FINISHED = ("success", "error", "interrupted")
# A run's start time is taken before its row is written, so ids need not follow start
# times (two triggers racing); the id breaks ties, which keeps pages stable.
NEWEST_FIRST = (JobRun.started_at.desc(), JobRun.id.desc())


def checked_id(job_id):
    """A well-formed id of a registered task (400 for a bad format, 404 when unknown)."""
    if len(job_id) > 100 or not JOB_ID_RE.match(job_id):
        raise InvalidInput("Invalid job ID format: use lowercase letters, digits and hyphens.")
    if job_id not in current_scheduler().registry:
        raise NotFound(f"Job not found: {job_id}")
    return job_id


@contextlib.contextmanager
def engine_errors():
    """Turn the engine's exceptions into the service's."""
    try:
        yield
    except UnknownJob as error:
        raise NotFound(f"Job not found: {error.args[0]}") from None
    except AlreadyRunning:
        raise Conflict("Job is already running") from None
    except NotScheduled as error:
        raise Conflict(str(error)) from None


def describe(row, now=None):
    """The job object of the seed, plus `scheduled` and `timezone`."""
    scheduler = current_scheduler()
    spec = scheduler.spec(row.id)
    runs = JobRun.select().where(JobRun.job == row.id).order_by(*NEWEST_FIRST)
    last_run = runs.where(JobRun.result.in_(EXECUTED)).first()
    last_done = runs.where(JobRun.result.in_(FINISHED)).first()
    return {
        "id": row.id,
        "name": spec.name,
        "description": spec.description,
        "enabled": scheduler.enabled(row),
        "running": last_run is not None and last_run.result == "running",
        "scheduled": scheduler.is_scheduled(row),
        "schedule": scheduler.schedule_of(row),
        "timezone": scheduler.timezone,
        "lastRun": last_run.started_at if last_run else None,
        "nextRun": scheduler.next_run(row, now),
        "lastResult": None if last_done is None else (
            "success" if last_done.result == "success" else "error"),
        "lastDuration": last_done.duration_ms if last_done else None,
    }


def list_jobs():
    rows = {row.id: row for row in ScheduledJob.select()}
    registry = current_scheduler().registry
    return [describe(rows[spec.id]) for spec in registry if spec.id in rows]


def get_job(job_id):
    return describe(ScheduledJob.get_by_id(checked_id(job_id)))


def run_logs(limit, offset, job_id=None, result=None):
    """A page of run logs, newest first, with the total."""
    query = JobRun.select()
    if job_id is not None:
        query = query.where(JobRun.job == job_id)
    if result is not None:
        query = query.where(JobRun.result == result)
    logs = list(query.order_by(*NEWEST_FIRST).limit(limit).offset(offset)) if limit else []
    return {"logs": logs, "total": query.count(), "limit": limit, "offset": offset}
