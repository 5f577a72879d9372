"""Schemas for scheduled jobs, their run logs, and the activity log."""

import marshmallow as ma
from marshmallow import validate

from schedules import InvalidSchedule, validate_schedule
from schedules.models import RESULTS
from schedules.registry import JOB_ID_RE

from .common import StrictBoolean, StrictSchema, UTCDateTime

MAX_INT = 2**63 - 1  # the largest integer the database stores
JOB_ID = validate.Regexp(JOB_ID_RE, error="Invalid job ID format (lowercase letters, digits, hyphens).")


class ScheduledJobSchema(ma.Schema):
    id = ma.fields.String(required=True, metadata={"example": "cleanup-expired-tokens"})
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    enabled = ma.fields.Boolean(required=True)
    running = ma.fields.Boolean(required=True)
    scheduled = ma.fields.Boolean(
        required=True, metadata={"description": "False when disabled or stopped"}
    )
    schedule = ma.fields.String(required=True, metadata={"example": "0 0 * * *"})
    timezone = ma.fields.String(required=True, metadata={"example": "UTC"})
    lastRun = UTCDateTime(required=True, allow_none=True)
    nextRun = UTCDateTime(required=True, allow_none=True)
    lastResult = ma.fields.String(
        required=True, allow_none=True, validate=validate.OneOf(("success", "error"))
    )
    lastDuration = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "Milliseconds"}
    )


class ScheduledJobUpdateSchema(StrictSchema):
    JSON_SCHEMA = {"minProperties": 1}  # not_empty, for the OpenAPI document

    enabled = StrictBoolean()
    schedule = ma.fields.String(
        metadata={"description": "Cron: 5 fields, or 6 with seconds last"}
    )

    @ma.validates("schedule")
    def valid_cron(self, value, **kwargs):
        try:
            validate_schedule(value)
        except InvalidSchedule as error:
            raise ma.ValidationError(str(error)) from None

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give `enabled` and/or `schedule`.")


class ActionResultSchema(ma.Schema):
    success = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True)


class TriggerResultSchema(ActionResultSchema):
    runId = ma.fields.Integer(required=True)


class RunLogSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    jobId = ma.fields.String(attribute="job_id", required=True)
    startedAt = UTCDateTime(attribute="started_at", required=True)
    completedAt = UTCDateTime(attribute="completed_at", required=True, allow_none=True)
    duration = ma.fields.Integer(attribute="duration_ms", required=True, allow_none=True)
    result = ma.fields.String(required=True, validate=validate.OneOf(RESULTS))
    triggeredBy = ma.fields.String(attribute="triggered_by", required=True)
    details = ma.fields.String(required=True, allow_none=True)


class RunLogPageSchema(ma.Schema):
    logs = ma.fields.List(ma.fields.Nested(RunLogSchema), required=True)
    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)


def _page_args(default, maximum):
    """limit and offset, whose messages say the documented range: any limit from 0 up is
    taken (above `maximum`, as `maximum`), an offset from 0 to what the database holds."""

    class PageArgs(ma.Schema):
        limit = ma.fields.Integer(
            load_default=default,
            validate=validate.Range(
                min=0, error=f"Must be 0 or more; values above {maximum} are clamped."
            ),
            metadata={"description": f"Default {default}; values above {maximum} are clamped."},
        )
        offset = ma.fields.Integer(
            load_default=0,
            validate=[
                validate.Range(min=0, error="Must be 0 or more."),
                validate.Range(max=MAX_INT, error="Must be at most {max}."),
            ],
        )

    PageArgs.MAX_LIMIT = maximum
    return PageArgs


JobLogArgs = _page_args(50, 100)


class AllLogsArgs(_page_args(100, 200)):
    result = ma.fields.String(validate=validate.OneOf(RESULTS))
    jobId = ma.fields.String(attribute="job_id", validate=JOB_ID)


class ActivityArgs(_page_args(50, 100)):
    action = ma.fields.String(validate=validate.Length(min=1, max=100))
    userId = ma.fields.Integer(attribute="user_id", validate=validate.Range(min=1, max=MAX_INT))
    resource = ma.fields.String(validate=validate.Length(min=1, max=100))
    resourceId = ma.fields.String(attribute="resource_id", validate=validate.Length(min=1, max=200))
    since = ma.fields.DateTime(format="iso", metadata={"description": "ISO 8601; UTC when no offset"})
    until = ma.fields.DateTime(format="iso", metadata={"description": "ISO 8601; UTC when no offset"})


class ActivitySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    userId = ma.fields.Integer(attribute="user_id", required=True, allow_none=True)
    username = ma.fields.String(required=True, allow_none=True)
    action = ma.fields.String(required=True)
    resource = ma.fields.String(required=True, allow_none=True)
    resourceId = ma.fields.String(attribute="resource_id", required=True, allow_none=True)
    details = ma.fields.Dict(required=True, allow_none=True)
    ip = ma.fields.String(required=True, allow_none=True)
    userAgent = ma.fields.String(attribute="user_agent", required=True, allow_none=True)
    createdAt = UTCDateTime(attribute="created_at", required=True)


class ActivityPageSchema(ma.Schema):
    activities = ma.fields.List(ma.fields.Nested(ActivitySchema), required=True)
    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)
