"""The metrics read from the database at scrape time: the same on every instance, so
they carry no instance label. Each is one query over an index."""

import datetime as dt

import peewee as pw
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schedules.models import JobRun, ScheduledJob
from schedules.slots import next_fire

from . import database
from .models import Job, JobAttempt, JobCount
from .states import STATUSES


class DatabaseCollector(Collector):
    """Jobs by status and model, the oldest due job's wait, leases, and the scheduled
    jobs' state, read through `app`'s database and scheduler."""

    def __init__(self, app):
        self.db = app.extensions["jobsapi.db"]
        self.scheduler = app.extensions.get("jobsapi.scheduler")

    def describe(self):
        return []  # the families depend on the data; nothing to check at registration

    def collect(self):
        now = database.now()
        with self.db.bind_ctx(MODELS, bind_refs=False, bind_backrefs=False), \
                self.db.connection_context():
            models = []  # the models seen, filled by job_families
            yield from job_families(now, models)
            yield from lease_families(now, models)
            if self.scheduler is not None:
                yield from scheduled_families(self.scheduler, now)


MODELS = (Job, JobAttempt, JobCount, ScheduledJob, JobRun)


def job_families(now, models):
    """jobsapi_jobs{status,model} (every status, zeros included, for each model seen) and
    jobsapi_oldest_pending_seconds{model}; the models seen are added to `models`."""
    counts = {}  # kept by the database's triggers: no count over the jobs themselves
    for model, status, count in JobCount.select(JobCount.model, JobCount.status,
                                                JobCount.jobs).tuples():
        counts[status, model] = count
    models.extend(sorted({model for _, model in counts}))
    jobs = GaugeMetricFamily("jobsapi_jobs", "Live (not deleted) work jobs by status and model.",
                             labels=["status", "model"])
    for model in models:
        for status in STATUSES:
            jobs.add_metric([status, model], counts.get((status, model), 0))
    yield jobs
    oldest = GaugeMetricFamily(
        "jobsapi_oldest_pending_seconds",
        "Seconds the oldest due PENDING job of the model has waited since it became due "
        "(0: none is due).", labels=["model"])
    for model in models:
        due_since = None
        if counts.get(("PENDING", model)):
            due_since = _datetime(Job.select(pw.fn.MIN(Job.available_at)).where(
                (Job.status == "PENDING") & Job.deleted_at.is_null()
                & (Job.model == model)).scalar())
        waited = 0.0
        if isinstance(due_since, dt.datetime) and due_since <= now:
            waited = (now - due_since).total_seconds()
        oldest.add_metric([model], waited)
    yield oldest


def lease_families(now, models):
    """jobsapi_leases_active{model} and jobsapi_leases_expired{model}: running attempts
    whose lease is live, or lapsed and not yet taken back (zeros for the other models)."""
    live = pw.Case(None, [(JobAttempt.lease_expires_at > now, 1)], 0)
    rows = (JobAttempt.select(JobAttempt.model, pw.fn.SUM(live), pw.fn.COUNT(JobAttempt.id))
            .where(JobAttempt.outcome == "running").group_by(JobAttempt.model).tuples())
    active = GaugeMetricFamily("jobsapi_leases_active", "Jobs held under a live lease.",
                               labels=["model"])
    expired = GaugeMetricFamily("jobsapi_leases_expired",
                                "Leases lapsed and not yet taken back.", labels=["model"])
    held = {model: (alive or 0, total) for model, alive, total in rows}
    for model in sorted(set(models) | set(held)):
        alive, total = held.get(model, (0, 0))
        active.add_metric([model], alive)
        expired.add_metric([model], total - alive)
    yield active
    yield expired


def scheduled_families(scheduler, now):
    """The scheduled jobs: last success, running, enabled and interval, per job."""
    success = (JobRun.select(JobRun.completed_at).where(
        (JobRun.job == ScheduledJob.id) & (JobRun.result == "success"))
        .order_by(JobRun.started_at.desc()).limit(1))
    rows = list(ScheduledJob.select(ScheduledJob, success.alias("last_success")))
    running = {run.job_id for run in JobRun.select(JobRun.job).where(JobRun.result == "running")}
    last = GaugeMetricFamily(
        "jobsapi_scheduled_job_last_success_timestamp_seconds",
        "When the job's last successful run ended (Unix time); absent before the first.",
        labels=["job"])
    busy = GaugeMetricFamily("jobsapi_scheduled_job_running", "1 while a run of the job runs.",
                             labels=["job"])
    enabled = GaugeMetricFamily(
        "jobsapi_scheduled_job_enabled", "1 when the job fires on its schedule (enabled and "
        "not stopped).", labels=["job"])
    interval = GaugeMetricFamily(
        "jobsapi_scheduled_job_interval_seconds",
        "Seconds between the job's next two slots (for alerting on a missing success).",
        labels=["job"])
    for row in rows:
        if row.id not in scheduler.registry:
            continue
        ended = _datetime(row.last_success)
        if ended is not None:
            last.add_metric([row.id], ended.replace(tzinfo=dt.timezone.utc).timestamp())
        busy.add_metric([row.id], 1 if row.id in running else 0)
        enabled.add_metric([row.id], 1 if scheduler.is_scheduled(row) else 0)
        seconds = _interval(scheduler, row, now)
        if seconds is not None:
            interval.add_metric([row.id], seconds)
    yield from (last, busy, enabled, interval)


def _datetime(value):
    """A DATETIME read through an aggregate or a subquery comes back as text."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return pw.format_date_time(value, ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"))


def _interval(scheduler, row, now):
    try:
        schedule = scheduler.schedule_of(row)
        first = next_fire(schedule, now, scheduler.timezone)
        second = next_fire(schedule, first, scheduler.timezone)
    except Exception:  # a schedule stored before it was validated as it is now
        return None
    return (second - first).total_seconds()
