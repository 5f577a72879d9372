"""Which work jobs a dashboard request means: the list's filters read from a query
string or a form, or the jobs ticked one by one."""

import datetime as dt

from .. import failures, workjobs
from ..errors import InvalidInput
from ..ids import JOB_ID_RE
from ..models import Job, User
from ..parsing import naive_utc
from ..schemas.jobs import REFERENCE_KEY_RE, REFERENCE_PREFIX
from ..states import STATUSES

FILTER_FIELDS = ("status", "model", "operation", "client", "ref_key", "ref_value", "from",
                 "until", "error")
PAGE_SIZE = 50


def parse_time(name, text):
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: give a date or a time, such as 2024-01-15 or "
                           "2024-01-15T06:00 (UTC).") from None
    return naive_utc(value)


def filters_of(values, user):
    """The list filters a query string or form gives, as filtered_jobs takes them, and
    the failure group (or None); InvalidInput for a value no job could have."""
    filters = {"status": [status for status in values.getlist("status") if status]}
    for status in filters["status"]:
        if status not in STATUSES:
            raise InvalidInput(f"status: not a status: {status}")
    for name in ("model", "operation"):
        if values.get(name):
            filters[name] = values[name]
    if values.get("client") and user.role == "admin":
        client = User.get_or_none(User.username == values["client"])
        if client is None:
            raise InvalidInput(f"client: no user named {values['client']}")
        filters["client_id"] = client.id
    references = {}  # clientReference.<key>=<value> as in the API, or the form's pair
    pairs = [(key[len(REFERENCE_PREFIX):], value) for key, value in values.items(multi=True)
             if key.startswith(REFERENCE_PREFIX)]
    for name, value in pairs + [(values.get("ref_key", ""), values.get("ref_value", ""))]:
        if not value:
            continue
        if not REFERENCE_KEY_RE.match(name):
            raise InvalidInput(f"clientReference.{name}: use letters, digits, '_' or '-' "
                               "(1-64) for the key.")
        references[name] = value
    filters["client_reference"] = references
    if values.get("from"):
        filters["created_from"] = parse_time("from", values["from"])
    if values.get("until"):
        filters["created_until"] = parse_time("until", values["until"])
    return filters, values.get("error") or None


def matching(values, user):
    """The jobs the user sees that the filters in `values` match."""
    filters, group = filters_of(values, user)
    jobs = workjobs.filtered_jobs(user, filters)
    return failures.in_group(jobs, group) if group else jobs


def ticked(values, user):
    """The jobs the user sees among the ids ticked in a form, and those ids."""
    ids = [job_id for job_id in values.getlist("job_id") if job_id]
    if not ids:
        raise InvalidInput("Select at least one job, or all that match.")
    bad = [job_id for job_id in ids if not JOB_ID_RE.match(job_id)]
    if bad or len(ids) > 500:
        raise InvalidInput("job_id: give at most 500 ids of 24 lowercase hexadecimal "
                           "characters.")
    return workjobs.visible_jobs(user).where(Job.id.in_(ids)), ids


def page(values, user):
    """A page of the matching jobs, newest first: (jobs, id to continue after or None)."""
    after = values.get("after")
    if after and not JOB_ID_RE.match(after):
        raise InvalidInput("after: not a job id.")
    jobs, more = workjobs.page_of(matching(values, user), PAGE_SIZE, after)
    return jobs, (jobs[-1].id if more else None)


def query_string(values, **changes):
    """The filters of `values` (with `changes`) as pairs for a link, empty ones left out."""
    pairs = [(key, value) for key, value in values.items(multi=True)
             if value and key not in changes and key != "after"
             and (key in FILTER_FIELDS or key.startswith(REFERENCE_PREFIX))]
    return pairs + [(key, value) for key, value in changes.items() if value]


def checked_id(job_id):
    """A job id from a path; 404 (as for a job not there) when malformed."""
    if not JOB_ID_RE.match(job_id):
        raise workjobs.JobNotFound(job_id)
    return job_id
