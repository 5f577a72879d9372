"""Schemas of the worker protocol: claims, leases, outcomes, attempts; and API keys."""

import marshmallow as ma
from marshmallow import validate

from ..ids import JOB_ID_PATTERN
from .common import JsonLimits, StrictBoolean, StrictSchema, UTCDateTime
from .jobs import JSON_MAX_DEPTH, MAX_TEXT, JobSchema

LEASE_SECONDS = validate.Range(10, 3600)
TOKEN = validate.Length(min=1, max=200)
OUTCOMES = ("running", "processed", "failed", "retrying", "released", "lease_expired",
            "canceled")


def _names(description):
    return ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=200)),
                          validate=validate.Length(min=1, max=100),
                          metadata={"description": description})


def _object(**kwargs):
    return ma.fields.Dict(keys=ma.fields.String(),
                          validate=JsonLimits(JSON_MAX_DEPTH, MAX_TEXT), **kwargs)


class ClaimSchema(StrictSchema):
    worker_id = ma.fields.String(data_key="workerId", required=True,
                                 validate=validate.Length(min=1, max=200))
    limit = ma.fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 100))
    models = _names("Only jobs of these models")
    operations = _names("Only jobs of these operations")
    lease_seconds = ma.fields.Integer(data_key="leaseSeconds", strict=True, load_default=60,
                                      validate=LEASE_SECONDS)
    wait_seconds = ma.fields.Integer(
        data_key="waitSeconds", strict=True, load_default=0, validate=validate.Range(0, 25),
        metadata={"description": "Wait this long for a job when none is due"})


class LeaseSchema(ma.Schema):
    token = ma.fields.String(required=True)
    expiresAt = UTCDateTime(required=True)


class ClaimedJobSchema(JobSchema):
    attempt = ma.fields.Integer(required=True)
    lease = ma.fields.Nested(LeaseSchema, required=True)


class ClaimResultSchema(ma.Schema):
    jobs = ma.fields.List(ma.fields.Nested(ClaimedJobSchema), required=True)


class HeartbeatSchema(StrictSchema):
    lease_token = ma.fields.String(data_key="leaseToken", required=True, validate=TOKEN)
    lease_seconds = ma.fields.Integer(data_key="leaseSeconds", strict=True,
                                      validate=LEASE_SECONDS)


class HeartbeatResultSchema(ma.Schema):
    leaseExpiresAt = UTCDateTime(required=True)
    cancelRequested = ma.fields.Boolean(required=True)


class LeaseRefSchema(StrictSchema):
    job_id = ma.fields.String(data_key="jobId", required=True,
                              validate=validate.Regexp(JOB_ID_PATTERN))
    lease_token = ma.fields.String(data_key="leaseToken", required=True, validate=TOKEN)


class BulkHeartbeatSchema(StrictSchema):
    leases = ma.fields.List(ma.fields.Nested(LeaseRefSchema), required=True,
                            validate=validate.Length(min=1, max=100))
    lease_seconds = ma.fields.Integer(data_key="leaseSeconds", strict=True,
                                      validate=LEASE_SECONDS)


class LeaseStateSchema(ma.Schema):
    jobId = ma.fields.String(required=True)
    ok = ma.fields.Boolean(required=True)
    leaseExpiresAt = UTCDateTime()
    cancelRequested = ma.fields.Boolean()


class BulkHeartbeatResultSchema(ma.Schema):
    leases = ma.fields.List(ma.fields.Nested(LeaseStateSchema), required=True)


class LeaseTokenSchema(StrictSchema):
    lease_token = ma.fields.String(data_key="leaseToken", required=True, validate=TOKEN)


class CompleteSchema(LeaseTokenSchema):
    response_data = _object(data_key="responseData", allow_none=True, load_default=None)
    processing_metrics = _object(data_key="processingMetrics", allow_none=True,
                                 load_default=None)


class ErrorReportSchema(StrictSchema):
    type = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    message = ma.fields.String(required=True, validate=validate.Length(max=10000))
    retryable = StrictBoolean(load_default=True)
    details = _object(allow_none=True)


class FailSchema(LeaseTokenSchema):
    error = ma.fields.Nested(ErrorReportSchema, required=True)
    retry_after = ma.fields.Integer(
        data_key="retryAfterSeconds", strict=True, validate=validate.Range(0, 86400),
        metadata={"description": "Retry no sooner than this (instead of the back-off)"})
    rate_limited = StrictBoolean(
        data_key="rateLimited", load_default=False,
        metadata={"description": "The provider said to wait (429): the attempt does not "
                                 "count, up to JOBSAPI_MAX_SNOOZES times"})
    pause_model = StrictBoolean(
        data_key="pauseModel", load_default=False,
        metadata={"description": "With rateLimited: pause the job's model for every "
                                 "worker until retryAfterSeconds have passed"})


class AttemptSchema(ma.Schema):
    attempt = ma.fields.Integer(required=True)
    workerId = ma.fields.String(attribute="worker_id", required=True)
    claimedAt = UTCDateTime(attribute="claimed_at", required=True)
    endedAt = UTCDateTime(attribute="ended_at", required=True, allow_none=True)
    outcome = ma.fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    error = ma.fields.Dict(required=True, allow_none=True)


class ApiKeyCreateSchema(StrictSchema):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    expires_in_days = ma.fields.Integer(data_key="expiresInDays", strict=True,
                                        validate=validate.Range(1, 3650))


class ApiKeySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    createdAt = UTCDateTime(attribute="created_at", required=True)
    expiresAt = UTCDateTime(attribute="expires_at", required=True, allow_none=True)
    lastUsedAt = UTCDateTime(attribute="last_used_at", required=True, allow_none=True)


class NewApiKeySchema(ApiKeySchema):
    key = ma.fields.String(required=True, metadata={"description": "Shown this once"})
