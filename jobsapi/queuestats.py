"""The queue as operators watch it: per model, jobs by status, the oldest due job, what
is in flight and what ended lately, limits and usage; and the workers seen lately."""

import datetime as dt

import peewee as pw

from . import database, limits
from .ids import first_id_at
from .models import Job, JobAttempt, JobCount, ModelLimit, User
from .states import STATUSES

HOUR = dt.timedelta(hours=1)
# Grouping by an expression with parameters names it by position: PostgreSQL takes the
# select list's and GROUP BY's copies, each with parameters of its own, for two.
FIRST_COLUMN = pw.SQL("1")
WORKERS_SEEN = dt.timedelta(hours=24)


def by_model(now=None):
    """One entry per model with live jobs or limits, by model name."""
    now = now or database.now()
    counts = {}  # kept by the database's triggers: no count over the jobs themselves
    for model, status, count in JobCount.select(JobCount.model, JobCount.status,
                                                JobCount.jobs).tuples():
        counts.setdefault(model, dict.fromkeys(STATUSES, 0))[status] = count
    limited = {limit.model: limit for limit in ModelLimit.select()}
    models = sorted(set(counts) | set(limited))
    oldest = {}  # per model, through the (model, status, available_at) index
    for model in models:
        if counts.get(model, {}).get("PENDING"):
            first = Job.select(pw.fn.MIN(Job.available_at)).where(
                (Job.model == model) & (Job.status == "PENDING") & Job.deleted_at.is_null()
                & (Job.available_at <= now)).scalar()
            if first is not None:
                oldest[model] = first
    held = dict(JobAttempt.select(JobAttempt.model, pw.fn.COUNT(JobAttempt.id)).where(
        (JobAttempt.outcome == "running") & (JobAttempt.lease_expires_at > now)
    ).group_by(JobAttempt.model).tuples())
    ended = {}
    for model, outcome, count in JobAttempt.select(
            JobAttempt.model, JobAttempt.outcome, pw.fn.COUNT(JobAttempt.id)).where(
            (JobAttempt.claimed_at > now - HOUR) & (JobAttempt.ended_at > now - HOUR)
            & JobAttempt.outcome.in_(("processed", "failed"))
    ).group_by(JobAttempt.model, JobAttempt.outcome).tuples():
        ended[model, outcome] = count
    usage = limits.usage(models, now)
    return [{
        "model": model,
        "counts": counts.get(model, dict.fromkeys(STATUSES, 0)),
        "oldestPendingSeconds": None if model not in oldest
        else round((now - _datetime(oldest[model])).total_seconds(), 3),
        "inFlight": held.get(model, 0),
        "processedLastHour": ended.get((model, "processed"), 0),
        "failedLastHour": ended.get((model, "failed"), 0),
        "limits": limited.get(model),
        "usage": dict(zip(("requestsLastMinute", "tokensLastMinute"),
                          usage.get(model, (0, 0)))),
    } for model in models]


def workers(now=None):
    """Each worker id seen in the last 24 hours: who, when, and its attempts' outcomes."""
    now = now or database.now()
    since = now - WORKERS_SEEN
    live = pw.Case(None, [(((JobAttempt.outcome == "running")
                            & (JobAttempt.lease_expires_at > now)), 1)], 0)
    rows = (JobAttempt.select(
        JobAttempt.worker_id, JobAttempt.user_id, User.username,
        pw.fn.MIN(JobAttempt.claimed_at), pw.fn.MAX(JobAttempt.claimed_at),
        pw.fn.MAX(JobAttempt.ended_at), pw.fn.SUM(live),
        pw.fn.SUM(pw.Case(None, [(JobAttempt.outcome == "processed", 1)], 0)),
        pw.fn.SUM(pw.Case(None, [(JobAttempt.outcome == "failed", 1)], 0)))
        .join(User, pw.JOIN.LEFT_OUTER, on=(User.id == JobAttempt.user_id))
        .where(JobAttempt.claimed_at > since)
        .group_by(JobAttempt.worker_id, JobAttempt.user_id, User.username)
        .order_by(JobAttempt.worker_id).tuples())
    return [{
        "workerId": worker_id, "userId": user_id, "username": username,
        "firstSeen": _datetime(first), "lastSeen": max(_datetime(last_claim),
                                                       _datetime(last_end or last_claim)),
        "inFlight": in_flight or 0, "processed": processed or 0, "failed": failed or 0,
    } for worker_id, user_id, username, first, last_claim, last_end, in_flight, processed,
        failed in rows]


def _datetime(value):
    """An aggregate's time: SQLite's MIN/MAX give the stored text, not a datetime."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def last_day(jobs, now=None, client_id=None):
    """Per hour of the last 24 (oldest first): jobs created among `jobs` (a query of the
    jobs the user sees), and attempts processed and failed (of `client_id`'s jobs, when
    given); with the hours' starts."""
    now = now or database.now()
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=23)
    hours = [start + HOUR * index for index in range(24)]

    # Ids follow creation times (ids.py): the bound reads the day through the primary key.
    jobs = jobs.where(Job.id >= first_id_at(start))

    def per_hour(column, query):
        bucket = pw.Case(None, [(column < hour, index - 1)
                                for index, hour in enumerate(hours) if index], 23)
        counts = [0] * 24
        for index, count in query.where(column >= start).select(
                bucket, pw.fn.COUNT(column)).group_by(FIRST_COLUMN).tuples():
            counts[index] = count
        return counts

    attempts = JobAttempt.select().where(JobAttempt.claimed_at >= start - WORKERS_SEEN)
    if client_id is not None:
        attempts = attempts.join(Job, on=(Job.id == JobAttempt.job)).where(
            Job.client == client_id)
    return {
        "hours": hours,
        "created": per_hour(Job.created_at, jobs),
        "processed": per_hour(JobAttempt.ended_at,
                              attempts.where(JobAttempt.outcome == "processed")),
        "failed": per_hour(JobAttempt.ended_at, attempts.where(JobAttempt.outcome == "failed")),
    }
