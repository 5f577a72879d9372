"""The work jobs' domain errors answered in the one error shape: 400, 404 or 409."""

from flask import jsonify

from .errors import (BatchRejected, Duplicate, Held, IdempotencyMismatch, IllegalChange,
                     Invalid, JobNotFound, LeaseLost, Missing, Move, batch_message, error_body)
from .timeutil import isoformat
from .schemas.jobs import JobBatchDeleteSchema, JobUpdateSchema


def _json_names(*schemas):
    """Model field name -> the name clients use for it, from the schemas' fields."""
    return {field.attribute or name: field.data_key or name
            for schema in schemas for name, field in schema().fields.items()}


JSON_NAMES = _json_names(JobUpdateSchema, JobBatchDeleteSchema)


def init_app(app):
    """Answer the domain errors raised by the views in the one error shape."""
    app.register_error_handler(JobNotFound, job_not_found)
    app.register_error_handler(IllegalChange, illegal_change)
    app.register_error_handler(BatchRejected, batch_rejected)
    app.register_error_handler(LeaseLost, lease_lost)
    app.register_error_handler(IdempotencyMismatch, idempotency_mismatch)


def _answer(code, message, errors=None):
    return jsonify(error_body(code, message, errors)), code


def job_not_found(error):
    return _answer(404, _not_found(error.job_id))


def illegal_change(error):
    problems = _conflicts(error.problems)
    return _answer(409, next(iter(problems.values()))[0], problems)


def batch_rejected(error):
    problems = {index: _item(problem) for index, problem in sorted(error.problems.items())}
    first = min(problems)
    numbered = {str(index): messages for index, messages in problems.items()}
    return _answer(400, batch_message(first, problems[first]),
                   {JSON_NAMES.get(error.items, error.items): numbered})


def lease_lost(error):
    return _answer(409, f"The lease token is not the current lease of job {error.job_id} "
                        "(it lapsed, ended, or another worker holds the job).")


def idempotency_mismatch(error):
    return _answer(409, f"Idempotency-Key {error.key!r} was used with another request body "
                        "in the last 24 hours.")


def _not_found(job_id):
    return f"Job not found: {job_id}"


def _item(problem):
    """A batch item's problem as the messages the client reads."""
    if isinstance(problem, Invalid):
        return problem.messages
    if isinstance(problem, Missing):
        return [_not_found(problem.job_id)]
    if isinstance(problem, Duplicate):
        return [f"Duplicate jobId in batch: {problem.job_id}"]
    return _conflicts(problem)


def _conflicts(problems):
    """{field: Move, Frozen or Held} as {client's field name: [message]}."""
    messages = {}
    for field, problem in problems.items():
        name = JSON_NAMES.get(field, field)
        if isinstance(problem, Move):
            text = f"Cannot change status from {problem.current} to {problem.target}."
        elif isinstance(problem, Held):
            text = (f"A worker holds the job until {isoformat(problem.until)}: its status "
                    "changes when the worker reports or its lease lapses.")
        else:
            text = f"Cannot change {name} while the job is {problem.status}."
        messages[name] = [text]
    return messages
