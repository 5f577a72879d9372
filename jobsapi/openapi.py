"""What the OpenAPI document says beyond the decorators: path converters with their
patterns, JSON Schema keywords of schema classes, batch lengths and configured enums."""

from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from werkzeug.routing import BaseConverter

from schedules.registry import JOB_ID_RE as SCHEDULED_JOB_ID_RE

from .ids import JOB_ID_PATTERN
from .schemas.common import AllowedBy, BatchItems


class WorkJobIdConverter(BaseConverter):
    """A work job id in a path, documented by its pattern; the view answers 400 for a
    malformed one. `batch`, `summary`, `claim`, `heartbeat` and `stats` are not ids: their
    routes answer (and list in Allow) their own methods only."""

    regex = r"(?!(?:batch|summary|claim|heartbeat|stats)$)[^/]+"
    schema = {"type": "string", "pattern": JOB_ID_PATTERN}


class ScheduledJobIdConverter(BaseConverter):
    """A scheduled job id in a path, documented by its pattern; the view answers 400 for
    a malformed one."""

    schema = {
        "type": "string", "pattern": SCHEDULED_JOB_ID_RE.pattern, "maxLength": 100,
        "example": "metadata-sync",
    }


class ModelNameConverter(BaseConverter):
    """A model name in a path: any 1 to 200 characters but NUL, slashes included
    (meta/llama-3)."""

    regex = r"[^\x00]{1,200}"
    part_isolating = False
    schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000]+$",
              "example": "gpt-4o"}


CONVERTERS = {"work_job_id": WorkJobIdConverter, "scheduled_job_id": ScheduledJobIdConverter,
              "model_name": ModelNameConverter}


class DocumentPlugin(BasePlugin):
    """Says in the OpenAPI document what the decorators cannot: the JSON Schema keywords
    a schema class lists in JSON_SCHEMA (say, minProperties for "give at least one
    field"), and the 503 any operation answers while the database stays busy
    (rest.database_error)."""

    def schema_helper(self, name, definition, schema=None, **kwargs):
        return dict(getattr(resolve_schema_cls(schema), "JSON_SCHEMA", {})) if schema else None

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            operation.setdefault("responses", {}).setdefault("503", "SERVICE_UNAVAILABLE")


def batch_length(limit):
    """An apispec attribute function: every batch list holds 1 to `limit` items."""

    def batch_length_attributes(converter, field, **kwargs):
        return {"minItems": 1, "maxItems": limit} if isinstance(field, BatchItems) else {}

    return batch_length_attributes


def allowed_values(config):
    """An apispec attribute function: a field an AllowedBy validator limits lists the
    configured values (JOBSAPI_MODELS, JOBSAPI_OPERATIONS) as its enum, when set."""

    def allowed_values_attributes(converter, field, **kwargs):
        for validator in field.validators:
            if isinstance(validator, AllowedBy) and config.get(validator.config_key):
                return {"enum": list(config[validator.config_key])}
        return {}

    return allowed_values_attributes
