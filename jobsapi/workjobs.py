"""Work jobs' business rules: who sees which jobs, and the one batch engine behind every
write (validate every item, then apply all of them in one transaction or none)."""

import contextlib
import json
import typing

import peewee as pw

from . import claims, database, dialect, signals
from .errors import (BatchRejected, Duplicate, Frozen, Held, IllegalChange, Invalid,
                     ItemErrors, JobNotFound, Missing, Move)
from .ids import new_job_id
from .models import Job
from .prepared import Prepared
from .states import CONTENT_EDITABLE_IN, CONTENT_FIELDS, STATUSES, can_move

CHUNK = 500  # rows per statement: within SQLite's and PostgreSQL's parameter limits


def _chunks(items, size=CHUNK):
    return (items[start:start + size] for start in range(0, len(items), size))


def visible_jobs(user):
    """Live jobs the user may see: all for admins, their own for clients."""
    query = Job.select().where(Job.deleted_at.is_null())
    if user.role != "admin":
        query = query.where(Job.client == user.id)
    return query


class _Viewer(typing.NamedTuple):
    """Who visible_jobs() narrows the jobs for, when a prepared query is built."""

    role: str
    id: int


# A job by its id, as admins and as clients see it (visible_jobs): the read answered
# most often, its SQL compiled once (prepared.py), with markers no id takes.
JOB_MARKER, CLIENT_MARKER = "job-id-marker", -(2**62) + 7
_JOB_BY_ID = {
    "admin": Prepared(Job, lambda job_id: visible_jobs(_Viewer("admin", 0)).where(
        Job.id == job_id), [JOB_MARKER]),
    "client": Prepared(Job, lambda job_id, client_id: visible_jobs(_Viewer(
        "client", client_id)).where(Job.id == job_id), [JOB_MARKER, CLIENT_MARKER]),
}


def get_job(user, job_id):
    """A job the user sees (the rule of visible_jobs); JobNotFound if there is none."""
    if user.role == "admin":
        rows = _JOB_BY_ID["admin"].run(database.current(), job_id)
    else:
        rows = _JOB_BY_ID["client"].run(database.current(), job_id, user.id)
    job = next(iter(rows), None)
    if job is None:
        raise JobNotFound(job_id)
    return job


def create_jobs(owner, items, now=None):
    """Insert validated job bodies for `owner` in one transaction; return them in order.
    An item that failed validation is an ItemErrors: then nothing is inserted."""
    invalid = {index: Invalid(item.messages)
               for index, item in enumerate(items, 1) if isinstance(item, ItemErrors)}
    if invalid:
        raise BatchRejected(invalid)
    now = now or database.now()
    rows = [dict(item, id=new_job_id(), client=owner.id, status="PENDING", created_at=now,
                 updated_at=now, available_at=now) for item in items]
    with database.writing():
        for chunk in _chunks(rows):
            Job.insert_many(chunk).execute()
    return [Job(**row) for row in rows]


def _fetch(user, job_ids):
    """The visible jobs among `job_ids` (ItemErrors among them are skipped), by id."""
    wanted = list({job_id for job_id in job_ids if isinstance(job_id, str)})
    found = {}
    for chunk in _chunks(wanted):
        found.update((job.id, job) for job in visible_jobs(user).where(Job.id.in_(chunk)))
    return found


def _check_all(job_ids, jobs, check=None):
    """Each item's problem by 1-based index: invalid, repeated, not found, or what
    `check(job, index)` finds wrong."""
    problems, seen = {}, set()
    for index, job_id in enumerate(job_ids, start=1):
        if isinstance(job_id, ItemErrors):
            problems[index] = Invalid(job_id.messages)
            continue
        if job_id in seen:
            problems[index] = Duplicate(job_id)
        elif job_id not in jobs:
            problems[index] = Missing(job_id)
        elif check and (found := check(jobs[job_id], index)):
            problems[index] = found
        seen.add(job_id)
    return problems


def _problems(job, change, admin, lease=None):
    """What is wrong with applying `change` to `job` (held under `lease`, if any):
    {field: Move, Frozen or Held}, or None."""
    problems = {}
    target = change.get("status", job.status)
    if not can_move(job.status, target, admin):
        problems["status"] = Move(job.status, target)
    elif lease is not None and target != job.status and not admin:
        problems["status"] = Held(lease.lease_expires_at)
    if job.status not in CONTENT_EDITABLE_IN:
        for field in CONTENT_FIELDS:
            if field in change and change[field] != getattr(job, field):
                problems[field] = Frozen(job.status)
    return problems or None


def update_jobs(user, changes, now=None):
    """Apply every change (each with job_id) or none; return the updated jobs in order."""
    admin = user.role == "admin"
    job_ids = [change if isinstance(change, ItemErrors) else change["job_id"] for change in changes]
    with database.writing():
        now = now or database.now()  # in the transaction: times follow the order of writes
        jobs = _fetch(user, job_ids)
        leases = claims.running_attempts(jobs, now)
        problems = _check_all(job_ids, jobs, lambda job, index: _problems(
            job, changes[index - 1], admin, leases.get(job.id)))
        if problems:
            raise BatchRejected(problems)
        updated = [_apply(jobs[change["job_id"]], change, now) for change in changes]
        _write_changes(changes, now)
        for change in changes:  # an admin moved a held job: its lease ends (fenced)
            lease = leases.get(change["job_id"])
            if lease is not None and change.get("status", "PROCESSING") != "PROCESSING":
                claims.end_attempt(lease, "canceled", now)
                signals.attempt_ended.send(jobs[change["job_id"]], outcome="canceled",
                                           attempt=lease)
    return updated


def update_job(user, job_id, change, now=None):
    """Apply one change to one job: JobNotFound or IllegalChange when it cannot be."""
    with _single(job_id):
        return update_jobs(user, [{**change, "job_id": job_id}], now)[0]


def _apply(job, change, now):
    """The job as it will be stored after `change` (for the response)."""
    for name, value in change.items():
        if name != "job_id":
            setattr(job, name, value)
    job.updated_at = now
    return job


def _write_changes(changes, now):
    """One UPDATE per distinct change (a batch moving many jobs alike is one statement)."""
    groups = {}
    for change in changes:
        values = {name: value for name, value in change.items() if name != "job_id"}
        key = json.dumps(values, sort_keys=True)
        groups.setdefault(key, (values, []))[1].append(change["job_id"])
    for values, job_ids in groups.values():
        for chunk in _chunks(job_ids):
            Job.update(**values, updated_at=now).where(Job.id.in_(chunk)).execute()


def delete_jobs(user, job_ids, now=None):
    """Soft-delete every job or none."""
    with database.writing():
        now = now or database.now()
        problems = _check_all(job_ids, _fetch(user, job_ids))
        if problems:
            raise BatchRejected(problems, items="job_ids")
        for chunk in _chunks(job_ids):
            Job.update(deleted_at=now, updated_at=now).where(
                Job.id.in_(chunk) & Job.deleted_at.is_null()).execute()


def delete_job(user, job_id, now=None):
    """Soft-delete one job; JobNotFound if the user sees no such job."""
    with _single(job_id):
        delete_jobs(user, [job_id], now)


@contextlib.contextmanager
def _single(job_id):
    """A one-item batch's rejection raised as the error about that one job."""
    try:
        yield
    except BatchRejected as error:
        problem = error.problems[1]
        if isinstance(problem, dict):
            raise IllegalChange(job_id, problem) from None
        raise JobNotFound(job_id) from None


def filtered_jobs(user, filters):
    """Visible jobs narrowed by the list/summary filters."""
    query = visible_jobs(user)
    if filters.get("client_id") is not None:
        query = query.where(Job.client == filters["client_id"])
    if filters.get("status"):
        query = query.where(Job.status.in_(filters["status"]))
    for name in ("operation", "model", "priority"):
        if filters.get(name) is not None:
            query = query.where(getattr(Job, name) == filters[name])
    json_text = dialect.of(database.current()).json_text
    for key, value in (filters.get("client_reference") or {}).items():
        query = query.where(json_text(Job.client_reference, key) == value)
    if filters.get("created_from") is not None:
        query = query.where(Job.created_at >= filters["created_from"])
    if filters.get("created_until") is not None:
        query = query.where(Job.created_at < filters["created_until"])
    return query


def list_jobs(user, filters, limit, after=None):
    """One page, newest first, and whether another page follows."""
    return page_of(filtered_jobs(user, filters), limit, after)


def page_of(query, limit, after=None):
    """One page of a query's jobs, newest first, after the job id `after` (a keyset
    page: as fast on the last page as on the first), and whether another follows."""
    if after:
        query = query.where(Job.id < after)
    page = list(query.order_by(Job.id.desc()).limit(limit + 1))
    return page[:limit], len(page) > limit


def summarize(user, filters):
    """Count of visible jobs per status, and the total."""
    query = filtered_jobs(user, filters)
    counts = dict.fromkeys(STATUSES, 0)
    rows = query.select(Job.status, pw.fn.COUNT(Job.id)).group_by(Job.status).tuples()
    for status, count in rows:
        counts[status] = count
    counts["total"] = sum(counts.values())
    return counts


def each_chunk(matching, change):
    """Apply `change(ids, now)` to the jobs the query `matching()` finds, CHUNK of them at a
    time in a write transaction of their own, until it finds none: a million jobs never
    hold every other writer up. A change must move the jobs out of `matching` (as each
    below does); how many changed."""
    changed = 0
    while True:
        with database.writing():
            now = database.now()
            ids = [job.id for job in matching().select(Job.id).order_by(Job.id).limit(CHUNK)]
            count = change(ids, now) if ids else 0
        changed += count
        if len(ids) < CHUNK or not count:
            return changed


def retryable(jobs):
    """The jobs among `jobs` a retry would move: those in ERROR_PROCESSING."""
    return jobs.where(Job.status == "ERROR_PROCESSING")


def retry_matching(jobs):
    """Every ERROR_PROCESSING job among `jobs` (a query of jobs the user sees) back to
    PENDING, due now, with its attempts counted afresh; how many moved."""
    return each_chunk(lambda: retryable(jobs), lambda ids, now: Job.update(
        status="PENDING", available_at=now, attempts=0, snoozes=0, updated_at=now).where(
        Job.id.in_(ids) & (Job.status == "ERROR_PROCESSING")).execute())


def delete_matching(jobs):
    """Soft-delete every job among `jobs` (a query of jobs the user sees); how many."""
    return each_chunk(lambda: jobs.where(Job.deleted_at.is_null()), lambda ids, now: Job.update(
        deleted_at=now, updated_at=now).where(Job.id.in_(ids) & Job.deleted_at.is_null()).execute())
