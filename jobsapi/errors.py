"""One error shape for every error, and the service's own exceptions."""

import http
import typing


def error_body(code, message=None, errors=None):
    """Return the one error shape: code, status, message and, for field errors, errors."""
    status = http.HTTPStatus(code)
    body = {"code": code, "status": status.phrase, "message": message or status.description}
    if errors:
        body["errors"] = errors
    return body


class ServiceError(Exception):
    """A rule of the service was broken; carries the HTTP status it maps to."""

    code = 400

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class InvalidInput(ServiceError):
    code = 400


class NotFound(ServiceError):
    code = 404


class Conflict(ServiceError):
    code = 409


class Forbidden(ServiceError):
    code = 403


class DomainError(Exception):
    """A rule of the work jobs was broken; errorhandlers maps it to the error shape."""


class JobNotFound(DomainError):
    """No job by that id that the user may see."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id


class IllegalChange(DomainError):
    """The change cannot be applied to the job as it is: `problems` by field name, each a
    Move (a status the state table forbids) or a Frozen field (its work is done)."""

    def __init__(self, job_id, problems):
        super().__init__(job_id, problems)
        self.job_id = job_id
        self.problems = problems


class BatchRejected(DomainError):
    """Items of an all-or-nothing batch failed, so none was applied: `problems` by 1-based
    index, each Invalid, Missing, Duplicate or a {field: Move or Frozen} dict; `items`
    names the model's list of items (jobs or job_ids)."""

    def __init__(self, problems, items="jobs"):
        super().__init__(problems)
        self.problems = problems
        self.items = items


class LeaseLost(DomainError):
    """The lease token is not the job's current lease: it expired, or another worker
    holds the job, or the job's attempt has ended otherwise."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id


class IdempotencyMismatch(DomainError):
    """An Idempotency-Key reused with another request body."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key


class Move(typing.NamedTuple):
    current: str
    target: str


class Frozen(typing.NamedTuple):
    status: str


class Held(typing.NamedTuple):
    """A status change refused: a worker holds the job under a live lease."""

    until: object  # when the lease lapses


class Invalid(typing.NamedTuple):
    messages: object  # the schema's messages for the item


class Missing(typing.NamedTuple):
    job_id: str


class Duplicate(typing.NamedTuple):
    job_id: str


class ItemErrors:
    """The validation messages of one batch item (kept, not raised, so that the batch
    engine reports them together with every other failing item)."""

    def __init__(self, messages):
        self.messages = messages


def batch_message(index, item_errors):
    """Describe the first failing item of a batch, 1-based, with its first problem."""
    return f"Validation failed for job {index} in batch: {first_message(item_errors)}"


def first_message(errors):
    """The first human-readable message in a (possibly nested) marshmallow error structure."""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return first_message(errors[0]) if errors else ""
    if isinstance(errors, dict) and errors:
        key, value = next(iter(errors.items()))
        inner = first_message(value)
        return inner if key == "_schema" or isinstance(key, int) else f"{key}: {inner}"
    return str(errors)


class Unauthorized(ServiceError):
    code = 401


class RateLimited(ServiceError):
    code = 429

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after
