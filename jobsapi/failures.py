"""Failed jobs grouped by their error: errorData.type, else the start of its message."""

import peewee as pw

from . import database, dialect
from .models import Job
from .queuestats import FIRST_COLUMN

MESSAGE_PREFIX = 60  # characters of a message that name a group without a type
NO_ERROR = "(no error data)"


def group_key():
    """The expression naming a failed job's group."""
    json_text = dialect.of(database.current()).json_text
    return pw.fn.COALESCE(json_text(Job.error_data, "type"),
                          pw.fn.SUBSTR(json_text(Job.error_data, "message"), 1, MESSAGE_PREFIX),
                          NO_ERROR)


def failed(jobs):
    """The ERROR_PROCESSING jobs among `jobs` (a query of jobs the user sees)."""
    return jobs.where(Job.status == "ERROR_PROCESSING")


def groups(jobs, limit=100):
    """The failed jobs among `jobs` by group, largest first: a list of (group, count,
    newest job) with at most `limit` groups."""
    key = group_key()
    rows = list(failed(jobs).select(key, pw.fn.COUNT(Job.id), pw.fn.MAX(Job.id))
                .group_by(FIRST_COLUMN).order_by(pw.fn.COUNT(Job.id).desc(), pw.fn.MAX(Job.id).desc())
                .limit(limit).tuples())
    newest = {job.id: job for job in Job.select().where(Job.id.in_([row[2] for row in rows]))}
    return [(group, count, newest.get(job_id)) for group, count, job_id in rows]


def in_group(jobs, group):
    """The failed jobs among `jobs` in `group`."""
    return failed(jobs).where(group_key() == group)
