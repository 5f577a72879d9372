"""Handing work jobs to workers: claims with a lease each, and taking back lapsed leases.

A claim moves due PENDING jobs to PROCESSING and records an attempt holding the lease;
the partial unique index on running attempts keeps a job with one holder whatever the
code does. A lease that lapses returns its job (the attempt counted), or ends it
ERROR_PROCESSING after its last attempt, or CANCELED when a cancel was asked."""

import datetime as dt
import secrets
import typing

from . import database, dialect, limits, signals
from .models import Job, JobAttempt
from .secretkey import digest


class Claimed(typing.NamedTuple):
    job: Job
    attempt: int
    token: str  # the lease token, shown to the worker once
    expires_at: dt.datetime


def due(now):
    """The condition of a job a claim may take."""
    return ((Job.status == "PENDING") & Job.deleted_at.is_null() & (Job.available_at <= now))


def claim(user, worker_id, limit=1, models=None, operations=None, lease_seconds=60, now=None):
    """Hand up to `limit` due jobs to the worker, lowest priority first and oldest first
    within a priority, each under a new lease, within their models' limits; a list of
    Claimed in that order."""
    with database.writing():
        now = now or database.now()  # read in the transaction: times follow the order of writes
        expires = now + dt.timedelta(seconds=lease_seconds)
        reap(now)
        jobs = _within_limits(limit, models, operations, now)
        if not jobs:
            return []
        Job.update(status="PROCESSING", attempts=Job.attempts + 1, updated_at=now).where(
            Job.id.in_([job.id for job in jobs]) & (Job.status == "PENDING")).execute()
        claimed, rows = [], []
        for job in jobs:
            job.status, job.attempts, job.updated_at = "PROCESSING", job.attempts + 1, now
            token = secrets.token_urlsafe(32)
            rows.append(dict(job=job.id, attempt=job.attempts, worker_id=worker_id,
                             user_id=user.id, lease_hash=digest(token),
                             lease_seconds=lease_seconds, claimed_at=now,
                             lease_expires_at=expires, outcome="running", model=job.model,
                             tokens=limits.estimate(job)))
            claimed.append(Claimed(job, job.attempts, token, expires))
        JobAttempt.insert_many(rows).execute()
    signals.jobs_claimed.send(user, claimed=claimed, worker_id=worker_id)
    return claimed


def _within_limits(limit, models, operations, now):
    """The due jobs a claim takes, in order: a model at one of its limits (or paused) is
    passed over, and the jobs of the others taken."""
    budget = limits.budget(now)
    skip_locked = dialect.of(database.current()).skip_locked  # rows another claim holds
    blocked, seen, taken = set(budget.paused(now)), set(), []
    while len(taken) < limit:
        query = Job.select().where(due(now))
        if models:
            query = query.where(Job.model.in_(models))
        if operations:
            query = query.where(Job.operation.in_(operations))
        if blocked:
            query = query.where(Job.model.not_in(list(blocked)))
        if seen:
            query = query.where(Job.id.not_in(list(seen)))
        wanted = limit - len(taken)
        batch = list(skip_locked(query.order_by(Job.priority, Job.id).limit(
            wanted * 2 if budget.limits else wanted)))
        for job in batch:
            seen.add(job.id)
            if job.model in blocked or len(taken) == limit:
                continue
            if budget.take(job):
                taken.append(job)
            else:
                blocked.add(job.model)
        if len(batch) < (wanted * 2 if budget.limits else wanted) or not budget.limits:
            break
    return taken


def reap(now=None):
    """End every lapsed lease and settle its job; return how many ended."""
    with database.writing():
        now = now or database.now()
        lapsed = list(JobAttempt.select().where(
            (JobAttempt.outcome == "running") & (JobAttempt.lease_expires_at <= now)))
        for attempt in lapsed:
            end_attempt(attempt, "lease_expired", now)
            job = Job.get_by_id(attempt.job_id)
            if job.status != "PROCESSING":
                continue  # moved on meanwhile (an admin's PATCH): the lease just ends
            if job.cancel_requested:
                settle(job, now, attempt, status="CANCELED")
            elif job.attempts >= job.max_attempts:
                settle(job, now, attempt, status="ERROR_PROCESSING", error_data={
                    "type": "lease_expired",
                    "message": f"The worker's lease lapsed on the last of {job.max_attempts} "
                               "attempts.",
                    "retryable": False})
            else:
                settle(job, now, attempt, status="PENDING", available_at=now)
    return len(lapsed)


def end_attempt(attempt, outcome, now, reported=None, error=None):
    """Close a running attempt with its outcome (announced once the job is settled:
    see settle)."""
    JobAttempt.update(outcome=outcome, ended_at=now, reported=reported, error=error).where(
        (JobAttempt.id == attempt.id) & (JobAttempt.outcome == "running")).execute()
    attempt.outcome, attempt.ended_at, attempt.reported = outcome, now, reported
    attempt.error = error


def settle(job, now, ended=None, **changes):
    """Write `changes` to a job (and onto `job`): its status and what goes with it; then
    announce the `ended` attempt, if one ended."""
    changes.setdefault("cancel_requested", False)
    Job.update(updated_at=now, **changes).where(Job.id == job.id).execute()
    for name, value in {**changes, "updated_at": now}.items():
        setattr(job, name, value)
    if ended is not None:
        signals.attempt_ended.send(job, outcome=ended.outcome, attempt=ended)
    return job


def running_attempts(job_ids, now):
    """The live running attempts of these jobs, by job id."""
    rows = JobAttempt.select().where(
        JobAttempt.job.in_(list(job_ids)) & (JobAttempt.outcome == "running")
        & (JobAttempt.lease_expires_at > now))
    return {attempt.job_id: attempt for attempt in rows}
