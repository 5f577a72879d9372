"""Work jobs' business rules: the state table and the one batch engine behind every write."""

import json

import peewee as pw

from . import rendering
from .database import db
from .errors import Conflict, InvalidInput, ItemErrors, NotFound, batch_message
from .ids import new_job_id
from .models import Job
from .timeutil import utcnow

STATUSES = (
    "PENDING",
    "PROCESSING",
    "PROCESSED",
    "CONSUMED",
    "ERROR_PROCESSING",
    "ERROR_CONSUMING",
    "CANCELED",
)

# The state table: status -> statuses anyone who may change the job can move it to.
TRANSITIONS = {
    "PENDING": {"PROCESSING", "CANCELED"},
    "PROCESSING": {"PROCESSED", "ERROR_PROCESSING", "PENDING"},
    "PROCESSED": {"CONSUMED", "ERROR_CONSUMING", "CANCELED"},
    "ERROR_PROCESSING": {"PENDING"},
    "ERROR_CONSUMING": {"PROCESSED"},
    "CONSUMED": set(),
    "CANCELED": set(),
}
# Moves only admins may make, on top of the table.
ADMIN_TRANSITIONS = {"CANCELED": {"PENDING"}}
ADMIN_TARGETS_FROM_ANY = {"ERROR_PROCESSING", "ERROR_CONSUMING"}

# Fields describing the work itself: they change only before the work is done.
CONTENT_FIELDS = ("operation", "prompts", "model", "temperature", "request_data")
CONTENT_EDITABLE_IN = {"PENDING", "ERROR_PROCESSING"}
JSON_COLUMNS = ("prompts", "request_data", "client_reference", "response_data",
                "processing_metrics", "error_data")
CAMEL = {
    "request_data": "requestData",
    "client_reference": "clientReference",
    "response_data": "responseData",
    "processing_metrics": "processingMetrics",
    "error_data": "errorData",
}
UPDATABLE_COLUMNS = {"status", "operation", "prompts", "model", "temperature", "priority",
                     "request_data", "client_reference", "response_data",
                     "processing_metrics", "error_data"}
INSERT_COLUMNS = ("id", "client_id", "status", "operation", "prompts", "model", "temperature",
                  "priority", "request_data", "client_reference", "response_data",
                  "processing_metrics", "error_data", "created_at", "updated_at")


def can_move(current, target, admin):
    """Whether a job in `current` may move to `target` (the same status is no move)."""
    if current == target:
        return True
    if target in TRANSITIONS[current]:
        return True
    return admin and (target in ADMIN_TRANSITIONS.get(current, ()) or target in ADMIN_TARGETS_FROM_ANY)


def _json(value):
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def create_jobs(owner, items, now=None):
    """Insert validated job bodies for `owner` in one transaction; return them in order."""
    invalid = {i: item.messages for i, item in enumerate(items, 1) if isinstance(item, ItemErrors)}
    if invalid:
        _raise(invalid, dict.fromkeys(invalid, "invalid"), "jobs", single=False)
    now = now or utcnow()
    jobs = [
        Job(id=new_job_id(), client=owner.id, status="PENDING", response_data=None,
            processing_metrics=None, error_data=None, created_at=now, updated_at=now, **item)
        for item in items
    ]
    stamp = now.isoformat(" ")
    rows = [
        tuple(
            stamp if column in ("created_at", "updated_at")
            else _json(getattr(job, column)) if column in JSON_COLUMNS
            else getattr(job, column)
            for column in INSERT_COLUMNS
        )
        for job in jobs
    ]
    sql = f"INSERT INTO jobs ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
    with db.atomic("IMMEDIATE"):
        db.cursor().executemany(sql, rows)
    return jobs


def visible_jobs(user):
    """Live jobs the user may see: all for admins, their own for clients."""
    query = Job.select().where(Job.deleted_at.is_null())
    if user.role != "admin":
        query = query.where(Job.client == user.id)
    return query


FETCH_CHUNK = 10000


def _visible(user, where, params):
    """`where` narrowed to the jobs visible_jobs() finds, in plain SQL."""
    where += " AND deleted_at IS NULL"
    if user.role != "admin":
        return where + " AND client_id = ?", params + [user.id]
    return where, params


def get_job(user, job_id, schema):
    """The body of a job the user sees, in the shape of `schema` (its response schema)
    and rendered by the database; 404 if there is no such job."""
    where, params = _visible(user, "id = ?", [job_id])
    body = Job.find_one_value(rendering.json_object(schema, Job), where, *params)
    if body is None:
        raise NotFound(f"Job not found: {job_id}")
    return rendering.Rendered(body)


def _problems(job, change, admin):
    """What is wrong with applying `change` to `job`: {field: [message]} or None."""
    problems = {}
    target = change.get("status", job.status)
    if not can_move(job.status, target, admin):
        problems["status"] = [f"Cannot change status from {job.status} to {target}."]
    if job.status not in CONTENT_EDITABLE_IN:
        for field in CONTENT_FIELDS:
            if field in change and change[field] != getattr(job, field):
                problems[CAMEL.get(field, field)] = [
                    f"Cannot change {CAMEL.get(field, field)} while the job is {job.status}."
                ]
    return problems or None


def _check_all(job_ids, jobs_by_id, check=None):
    """Per 1-based item: invalid fields, repeated, not found or failing `check`.

    `job_ids` holds each item's id, or the item's ItemErrors when it failed validation.
    Returns (errors, kinds) keyed by index.
    """
    errors, kinds, seen = {}, {}, set()
    for index, job_id in enumerate(job_ids, start=1):
        if isinstance(job_id, ItemErrors):
            errors[index], kinds[index] = job_id.messages, "invalid"
            continue
        job = jobs_by_id.get(job_id)
        if job_id in seen:
            errors[index], kinds[index] = [f"Duplicate jobId in batch: {job_id}"], "invalid"
        elif job is None:
            errors[index], kinds[index] = [f"Job not found: {job_id}"], "missing"
        elif check and (problems := check(job, index)):
            errors[index], kinds[index] = problems, "conflict"
        seen.add(job_id)
    return errors, kinds


def _raise(errors, kinds, field, single):
    """Single routes: 404 or 409 for the item; batches: 400 naming the first failing item."""
    first = min(errors)
    if single:
        message = errors[first][0] if isinstance(errors[first], list) else None
        if kinds[first] == "missing":
            raise NotFound(message)
        raise Conflict(message or _first_field_message(errors[first]), errors=errors[first])
    numbered = {str(index): errors[index] for index in sorted(errors)}
    raise InvalidInput(batch_message(first, errors[first]), errors={field: numbered})


def _first_field_message(problems):
    return next(iter(problems.values()))[0]


def _fetch(user, job_ids):
    """The visible jobs among `job_ids`, by id: the rule of visible_jobs() in plain SQL,
    since building these reads (up to a batch's 1,000 jobs) with the query builder cost
    more than running them."""
    wanted = list({job_id for job_id in job_ids if isinstance(job_id, str)})
    found = {}
    for start in range(0, len(wanted), FETCH_CHUNK):  # within SQLite's parameter limit
        chunk = wanted[start:start + FETCH_CHUNK]
        marks = ", ".join("?" * len(chunk))
        where, params = _visible(user, f"id IN ({marks})", chunk)
        found.update((job.id, job) for job in Job.find(where, *params))
    return found


def update_jobs(user, changes, single=False, now=None):
    """Apply every change (each with job_id) or none; return the updated jobs in order."""
    now = now or utcnow()
    admin = user.role == "admin"
    job_ids = [change if isinstance(change, ItemErrors) else change["job_id"] for change in changes]
    with db.atomic("IMMEDIATE"):
        jobs = _fetch(user, job_ids)
        errors, kinds = _check_all(
            job_ids, jobs, lambda job, index: _problems(job, changes[index - 1], admin)
        )
        if errors:
            _raise(errors, kinds, "jobs", single)
        updated = [_apply(jobs[change["job_id"]], change, now) for change in changes]
        _write_changes(changes, now)
    return updated


def _apply(job, change, now):
    """The job as it will be stored after `change` (for the response)."""
    for name, value in change.items():
        if name != "job_id":
            setattr(job, name, value)
    job.updated_at = now
    return job


def _write_changes(changes, now):
    """UPDATE the changed columns: one executemany per distinct set of columns."""
    stamp = now.isoformat(" ")
    groups = {}
    for change in changes:
        columns = tuple(sorted(name for name in change if name != "job_id"))
        if not set(columns) <= UPDATABLE_COLUMNS:  # names go into SQL: only known ones
            raise ValueError(f"not updatable: {sorted(set(columns) - UPDATABLE_COLUMNS)}")
        values = tuple(_json(change[c]) if c in JSON_COLUMNS else change[c] for c in columns)
        groups.setdefault(columns, []).append(values + (stamp, change["job_id"]))
    cursor = db.cursor()
    for columns, rows in groups.items():
        assignments = ", ".join(f"{column} = ?" for column in columns + ("updated_at",))
        cursor.executemany(f"UPDATE jobs SET {assignments} WHERE id = ?", rows)


def delete_jobs(user, job_ids, single=False, now=None):
    """Soft-delete every job or none."""
    now = now or utcnow()
    with db.atomic("IMMEDIATE"):
        jobs = _fetch(user, job_ids)
        errors, kinds = _check_all(job_ids, jobs)
        if errors:
            _raise(errors, kinds, "jobIds", single)
        Job.update(deleted_at=now, updated_at=now).where(
            Job.id.in_(job_ids) & Job.deleted_at.is_null()
        ).execute()


def _reference_value(key):
    """clientReference's top-level `key` as text (JSON true/false as 'true'/'false')."""
    path = f'$."{key}"'
    return pw.Case(
        pw.fn.json_type(Job.client_reference, path),
        (("true", "true"), ("false", "false")),
        pw.Cast(pw.fn.json_extract(Job.client_reference, path), "TEXT"),
    )


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
    for key, value in (filters.get("client_reference") or {}).items():
        query = query.where(_reference_value(key) == value)
    return query


def list_jobs(user, filters, limit, after=None):
    """One page, newest first, and whether another page follows."""
    query = filtered_jobs(user, filters)
    if after:
        query = query.where(Job.id < after)
    page = list(Job.select_rows(query.order_by(Job.id.desc()).limit(limit + 1)))
    return page[:limit], len(page) > limit


def summarize(user, filters):
    """Count of visible jobs per status, and the total."""
    query = filtered_jobs(user, filters)
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in query.select(Job.status, pw.fn.COUNT(Job.id)).group_by(Job.status).tuples():
        counts[status] = count
    counts["total"] = sum(counts.values())
    return counts
