"""What a worker reports about a job it holds, fenced by its lease token: heartbeat,
complete, fail, release; and a client's cancel, and the attempts of a job.

A token that is not the job's live lease gets LeaseLost (409), nothing changed. The
same report sent again with the same token answers with the job as it is, recorded
once."""

import datetime as dt
import random

from . import database, limits
from .claims import end_attempt, reap, running_attempts, settle
from .errors import IllegalChange, JobNotFound, LeaseLost, Move

__all__ = ["LeaseLost", "attempts", "backoff", "cancel", "cancel_matching", "cancelable",
           "complete", "fail", "heartbeat", "release"]
from .models import Job, JobAttempt
from .secretkey import digest
from .workjobs import each_chunk, visible_jobs

MAX_TOKENS = 100_000_000  # a reported totalTokens above this is not believed


def _lease(job_id, token, now, report=None):
    """The running attempt `token` holds on the job, or None when `report` already ended
    it (a repeated report); LeaseLost otherwise."""
    attempt = JobAttempt.get_or_none(
        (JobAttempt.lease_hash == digest(token)) & (JobAttempt.job == job_id))
    if attempt is None:
        raise LeaseLost(job_id)
    if attempt.outcome == "running":
        if attempt.lease_expires_at > now:
            return attempt  # else lapsed: the reaper gives the job back
    elif report is not None and attempt.reported == report:
        return None
    raise LeaseLost(job_id)


def heartbeat(leases, lease_seconds=None, now=None):
    """Renew leases [(job_id, token)]: per lease, (job_id, expires_at or None when it is
    not the job's live lease, cancel_requested)."""
    renewed = []
    with database.writing():
        now = now or database.now()  # in the transaction: times follow the order of writes
        for job_id, token in leases:
            try:
                attempt = _lease(job_id, token, now)
            except LeaseLost:
                renewed.append((job_id, None, None))
                continue
            expires = now + dt.timedelta(seconds=lease_seconds or attempt.lease_seconds)
            JobAttempt.update(lease_expires_at=expires).where(
                JobAttempt.id == attempt.id).execute()
            cancel = Job.select(Job.cancel_requested).where(Job.id == job_id).scalar()
            renewed.append((job_id, expires, bool(cancel)))
    return renewed


def _report(job_id, token, report, now, decide, error=None, results=None):
    """A worker's report on the job it holds, fenced by its lease: `decide(job, attempt,
    now)` gives the attempt's outcome and the job's changes; a job whose cancel was asked
    ends CANCELED whatever the report (with its `results`); a repeat changes nothing."""
    with database.writing():
        now = now or database.now()  # in the transaction: times follow the order of writes
        attempt = _lease(job_id, token, now, report)
        job = Job.get_by_id(job_id)
        if attempt is None:
            return job  # the same report again: recorded once
        if job.cancel_requested:
            outcome, changes = "canceled", {"status": "CANCELED", **(results or {})}
        else:
            outcome, changes = decide(job, attempt, now)
        end_attempt(attempt, outcome, now, report, error)
        return settle(job, now, attempt, **changes)


def complete(job_id, token, response_data=None, processing_metrics=None, now=None):
    """The work is done: PROCESSED with its results (CANCELED if a cancel was asked)."""
    results = dict(response_data=response_data, processing_metrics=processing_metrics)

    def decide(job, attempt, now):
        total = (processing_metrics or {}).get("totalTokens")
        if isinstance(total, int) and not isinstance(total, bool) and 0 <= total <= MAX_TOKENS:
            # What the provider counted replaces the estimate for the rest of the window.
            JobAttempt.update(tokens=total).where(JobAttempt.id == attempt.id).execute()
        return "processed", {"status": "PROCESSED", **results}

    return _report(job_id, token, "complete", now, decide, results=results)


def fail(job_id, token, error, retry_after=None, now=None, base=10.0, cap=900.0,
         rate_limited=False, pause_model=False, max_snoozes=20):
    """The attempt failed: back to PENDING after a back-off while attempts remain and the
    error is retryable, else ERROR_PROCESSING with the error (CANCELED if asked).

    `rate_limited` (the provider said to wait): back to PENDING after `retry_after`
    without counting the attempt, up to `max_snoozes` times; `pause_model` pauses the
    job's whole model until then, for every worker."""

    def decide(job, attempt, now):
        delay = retry_after if retry_after is not None else backoff(job.attempts, base, cap)
        due = now + dt.timedelta(seconds=delay)
        if rate_limited and pause_model:
            limits.pause(job.model, due, now)
        if rate_limited and job.snoozes < max_snoozes:
            return "retrying", {"status": "PENDING", "available_at": due,
                                "snoozes": job.snoozes + 1,
                                "attempts": max(job.attempts - 1, 0)}
        if error.get("retryable", True) and job.attempts < job.max_attempts:
            return "retrying", {"status": "PENDING", "available_at": due}
        return "failed", {"status": "ERROR_PROCESSING", "error_data": error}

    return _report(job_id, token, "fail", now, decide, error)


def backoff(attempt, base, cap):
    """Seconds before retry `attempt` + 1: exponential, capped, half of it jittered."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def release(job_id, token, now=None):
    """The worker gives the job back unworked (say, shutting down): PENDING and due now,
    the attempt not counted (CANCELED if a cancel was asked)."""

    def decide(job, attempt, now):
        return "released", {"status": "PENDING", "available_at": now,
                            "attempts": max(job.attempts - 1, 0)}

    return _report(job_id, token, "release", now, decide)


def cancel(user, job_id, now=None):
    """Cancel a job the user sees: a PENDING one at once; a held one when its worker
    next reports or its lease lapses (the heartbeat tells the worker)."""
    with database.writing():
        now = now or database.now()  # in the transaction: times follow the order of writes
        reap(now)  # a lapsed lease first gives its job back, then the cancel applies
        job = visible_jobs(user).where(Job.id == job_id).get_or_none()
        if job is None:
            raise JobNotFound(job_id)
        if job.status == "PENDING" or (
                job.status == "PROCESSING" and job_id not in running_attempts([job_id], now)):
            return settle(job, now, status="CANCELED")
        if job.status == "PROCESSING":
            return settle(job, now, cancel_requested=True)
        raise IllegalChange(job_id, {"status": Move(job.status, "CANCELED")})


def cancelable(jobs):
    """The jobs among `jobs` a cancel would touch: PENDING, or PROCESSING and not yet
    asked to cancel."""
    return jobs.where((Job.status == "PENDING") | (
        (Job.status == "PROCESSING") & (Job.cancel_requested == False)))  # noqa: E712


def cancel_matching(jobs):
    """Cancel every job among `jobs` (a query of jobs the user sees) as `cancel` would:
    the PENDING ones (and those whose lease lapsed) at once, the held ones when their
    worker next reports; how many were canceled or asked to cancel (in chunks: see
    each_chunk)."""
    with database.writing():
        reap(database.now())  # a lapsed lease first gives its job back, then the cancel applies

    def held(now):
        return JobAttempt.select(JobAttempt.job).where(
            (JobAttempt.outcome == "running") & (JobAttempt.lease_expires_at > now))

    def free():
        now = database.now()
        return jobs.where((Job.status == "PENDING") | (
            (Job.status == "PROCESSING") & Job.id.not_in(held(now))))

    def holding():
        return jobs.where((Job.status == "PROCESSING") & Job.id.in_(held(database.now()))
                          & (Job.cancel_requested == False))  # noqa: E712

    canceled = each_chunk(free, lambda ids, now: Job.update(
        status="CANCELED", cancel_requested=False, updated_at=now).where(
        Job.id.in_(ids) & Job.status.in_(["PENDING", "PROCESSING"])
        & Job.id.not_in(held(now))).execute())
    asked = each_chunk(holding, lambda ids, now: Job.update(
        cancel_requested=True, updated_at=now).where(
        Job.id.in_(ids) & (Job.status == "PROCESSING")).execute())
    return canceled + asked


def attempts(user, job_id, any_job=False):
    """The attempts of a job the user sees (or of any job, for workers), in order."""
    jobs = Job.select().where(Job.deleted_at.is_null()) if any_job else visible_jobs(user)
    if not jobs.where(Job.id == job_id).exists():
        raise JobNotFound(job_id)
    return list(JobAttempt.select().where(JobAttempt.job == job_id).order_by(JobAttempt.id))
