"""Per-model limits: what a model's provider allows, and what a claim may still take.

A limited model's jobs are handed out only while the model is not paused and has room:
fewer held jobs than maxConcurrency, fewer claims in the last minute than
requestsPerMinute, and their tokens (each claim's estimate, or the total its worker
reported) plus this job's within tokensPerMinute. A job alone over the token budget is
served once the minute before it is empty. Claims take a model's jobs in order: when
the next one does not fit, the model waits (others go on), so none starves."""

import datetime as dt
import math

import peewee as pw

from . import database
from .errors import NotFound
from .models import JobAttempt, ModelLimit

WINDOW = dt.timedelta(seconds=60)
FIELDS = ("max_concurrency", "requests_per_minute", "tokens_per_minute", "paused_until")


def estimate(job):
    """A job's token estimate: its estimatedTokens, or its prompts' characters / 4."""
    if job.estimated_tokens is not None:
        return job.estimated_tokens
    return math.ceil(sum(len(prompt) for prompt in job.prompts) / 4)


class Budget:
    """What each limited model may still take, read at the start of a claim."""

    def __init__(self, limits, held, requests, tokens):
        self.limits = limits  # model -> ModelLimit
        self.held, self.requests, self.tokens = held, requests, tokens

    def paused(self, now):
        return [model for model, limit in self.limits.items()
                if limit.paused_until is not None and limit.paused_until > now]

    def take(self, job):
        """Whether the job fits its model's budget; if so, count it."""
        limit = self.limits.get(job.model)
        if limit is None:
            return True
        model, need = job.model, estimate(job)
        if limit.max_concurrency is not None and self.held.get(model, 0) >= limit.max_concurrency:
            return False
        requests = self.requests.get(model, 0)
        if limit.requests_per_minute is not None and requests >= limit.requests_per_minute:
            return False
        used = self.tokens.get(model, 0)
        if limit.tokens_per_minute is not None and used + need > limit.tokens_per_minute:
            if used > 0 or requests > 0:  # alone over the budget: once the minute is empty
                return False
        self.held[model] = self.held.get(model, 0) + 1
        self.requests[model] = requests + 1
        self.tokens[model] = used + need
        return True


def budget(now):
    """The limited models' budgets as the database has them now."""
    limits = {limit.model: limit for limit in ModelLimit.select()}
    if not limits:
        return Budget({}, {}, {}, {})
    limited = list(limits)
    held = dict(JobAttempt.select(JobAttempt.model, pw.fn.COUNT(JobAttempt.id)).where(
        JobAttempt.model.in_(limited) & (JobAttempt.outcome == "running")
        & (JobAttempt.lease_expires_at > now)).group_by(JobAttempt.model).tuples())
    requests, tokens = {}, {}
    recent = JobAttempt.select(JobAttempt.model, pw.fn.COUNT(JobAttempt.id),
                               pw.fn.SUM(JobAttempt.tokens)).where(
        JobAttempt.model.in_(limited) & (JobAttempt.claimed_at > now - WINDOW)
    ).group_by(JobAttempt.model).tuples()
    for model, count, total in recent:
        requests[model], tokens[model] = count, total or 0
    return Budget(limits, held, requests, tokens)


def usage(models, now):
    """{model: (claims, tokens)} in the last minute."""
    rows = JobAttempt.select(JobAttempt.model, pw.fn.COUNT(JobAttempt.id),
                             pw.fn.SUM(JobAttempt.tokens)).where(
        JobAttempt.model.in_(list(models)) & (JobAttempt.claimed_at > now - WINDOW)
    ).group_by(JobAttempt.model).tuples()
    return {model: (count, total or 0) for model, count, total in rows}


def list_limits():
    return list(ModelLimit.select().order_by(ModelLimit.model))


def set_limits(model, changes, now=None):
    """Create or replace a model's limits (a field left out: no limit)."""
    now = now or database.now()
    values = {field: changes.get(field) for field in FIELDS}
    with database.writing():
        ModelLimit.insert(model=model, updated_at=now, **values).on_conflict(
            conflict_target=[ModelLimit.model],
            preserve=[ModelLimit.updated_at, *(getattr(ModelLimit, name) for name in FIELDS)],
        ).execute()
    return ModelLimit.get_by_id(model)


def remove_limits(model):
    with database.writing():
        if not ModelLimit.delete().where(ModelLimit.model == model).execute():
            raise NotFound(f"No limits for model: {model}")


def pause(model, until, now=None):
    """Pause a model until `until` (a later pause stays), keeping its other limits."""
    now = now or database.now()
    limit = ModelLimit.get_or_none(ModelLimit.model == model)
    if limit is None:
        ModelLimit.create(model=model, paused_until=until, updated_at=now)
    elif limit.paused_until is None or limit.paused_until < until:
        ModelLimit.update(paused_until=until, updated_at=now).where(
            ModelLimit.model == model).execute()
