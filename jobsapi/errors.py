"""One error shape for every error, and the service's own exceptions."""

import http


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
