"""Schemas for work jobs: create, update, batches, queries and the JobResponse."""

import re

import marshmallow as ma
from flask import current_app, request
from marshmallow import validate

from ..ids import JOB_ID_PATTERN
from ..states import STATUSES
from .common import AllowedBy, BatchItems, JsonLimits, StrictFloat, StrictSchema, UTCDateTime

JOB_ID = validate.Regexp(JOB_ID_PATTERN, error="Must be 24 lowercase hexadecimal characters.")
REFERENCE_PREFIX = "clientReference."
REFERENCE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JSON_MAX_DEPTH = 100  # requestData and the other free-form fields
MAX_TEXT = 1024 * 1024  # characters in one prompt, or in one free-form field as JSON


def _operation(**kwargs):
    return ma.fields.String(
        validate=[validate.Length(min=1, max=100), AllowedBy("JOBSAPI_OPERATIONS")], **kwargs
    )


def _prompts(**kwargs):
    return ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=MAX_TEXT)),
        validate=validate.Length(min=1, max=100),
        **kwargs,
    )


def _model(**kwargs):
    return ma.fields.String(
        validate=[validate.Length(min=1, max=200), AllowedBy("JOBSAPI_MODELS")], **kwargs
    )


def _temperature(**kwargs):
    return StrictFloat(
        allow_none=True, allow_nan=False, validate=validate.Range(0.0, 2.0), **kwargs
    )


def _priority(**kwargs):
    return ma.fields.Integer(strict=True, validate=validate.Range(1, 1000), **kwargs)


def _object(**kwargs):
    limits = JsonLimits(JSON_MAX_DEPTH, MAX_TEXT)
    return ma.fields.Dict(keys=ma.fields.String(), validate=limits, **kwargs)


class JobCreateSchema(StrictSchema):
    operation = _operation(required=True)
    prompts = _prompts(required=True)
    model = _model(required=True)
    temperature = _temperature(load_default=None)
    priority = _priority(load_default=500)
    request_data = _object(data_key="requestData", required=True)
    client_reference = _object(data_key="clientReference", allow_none=True, load_default=None)
    max_attempts = ma.fields.Integer(
        data_key="maxAttempts", strict=True, validate=validate.Range(1, 100),
        load_default=lambda: current_app.config["JOBSAPI_MAX_ATTEMPTS"],
        metadata={"description": "How many claims may end without success before the job "
                                 "ends ERROR_PROCESSING (default JOBSAPI_MAX_ATTEMPTS)"},
    )
    estimated_tokens = ma.fields.Integer(
        data_key="estimatedTokens", strict=True, allow_none=True, load_default=None,
        validate=validate.Range(0, 100_000_000),
        metadata={"description": "Tokens the job will use, for the model's tokensPerMinute "
                                 "(default: the prompts' characters / 4)"})


class IdempotencyArgs(ma.Schema):
    """The Idempotency-Key header of a create."""

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key", validate=[
            validate.Length(min=1, max=255),
            validate.Regexp(r"^[^\x00]*$", error="The key may not hold the NUL character.")],
        metadata={"description": "The same key and body within 24 hours answers the first "
                                 "response again and creates nothing; another body is 409"})


class JobUpdateSchema(StrictSchema):
    JSON_SCHEMA = {"minProperties": 1}  # not_empty, for the OpenAPI document

    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    operation = _operation()
    prompts = _prompts()
    model = _model()
    temperature = _temperature()
    priority = _priority()
    request_data = _object(data_key="requestData")
    client_reference = _object(data_key="clientReference", allow_none=True)
    response_data = _object(data_key="responseData", allow_none=True)
    processing_metrics = _object(data_key="processingMetrics", allow_none=True)
    error_data = _object(data_key="errorData", allow_none=True)

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not {key for key in data if key != "job_id"}:
            raise ma.ValidationError("Give at least one field to change.")


class JobBatchUpdateItemSchema(JobUpdateSchema):
    JSON_SCHEMA = {"minProperties": 2}  # jobId and a change

    job_id = ma.fields.String(data_key="jobId", required=True, validate=JOB_ID)


class BatchSchema(StrictSchema):
    """A batch body: its one list field (BATCH_FIELD) holds 1 to JOBSAPI_MAX_BATCH items."""

    BATCH_FIELD = "jobs"

    @ma.pre_load
    def check_length(self, data, **kwargs):
        """Reject an empty or oversized batch before validating its items one by one."""
        items = data.get(self.BATCH_FIELD) if isinstance(data, dict) else None
        limit = current_app.config["JOBSAPI_MAX_BATCH"]
        if isinstance(items, list) and not 1 <= len(items) <= limit:
            raise ma.ValidationError(
                {self.BATCH_FIELD: [f"A batch holds from 1 to {limit} items; got {len(items)}."]}
            )
        return data


class JobBatchCreateSchema(BatchSchema):
    jobs = BatchItems(ma.fields.Nested(JobCreateSchema), required=True)


class JobBatchUpdateSchema(BatchSchema):
    jobs = BatchItems(ma.fields.Nested(JobBatchUpdateItemSchema), required=True)


class JobBatchDeleteSchema(BatchSchema):
    BATCH_FIELD = "jobIds"
    job_ids = BatchItems(ma.fields.String(validate=JOB_ID), data_key="jobIds", required=True)


class JobFilterArgs(ma.Schema):
    """Filters shared by the list and the summary.

    Besides these, clientReference.<key>=<value> matches jobs whose clientReference has
    that top-level key with that value (compared as text).
    """

    status = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(STATUSES)),
        metadata={"description": "Repeat to match any of several statuses."},
    )
    operation = ma.fields.String(validate=validate.Length(min=1, max=100))
    model = ma.fields.String(validate=validate.Length(min=1, max=200))
    priority = ma.fields.Integer(validate=validate.Range(1, 1000))
    client_id = ma.fields.Integer(
        data_key="clientId",
        validate=validate.Range(min=1, max=2**63 - 1),
        metadata={"description": "Admins only: jobs of this client."},
    )

    @ma.pre_load
    def set_aside_reference_filters(self, data, **kwargs):
        """clientReference.<key> parameters are read in post_load, not as fields; set
        aside here, they are not unknown parameters (which are 400)."""
        return {key: data[key] for key in data if not key.startswith(REFERENCE_PREFIX)}

    @ma.post_load
    def add_reference_filters(self, data, **kwargs):
        references = {
            key[len(REFERENCE_PREFIX):]: value
            for key, value in request.args.items()
            if key.startswith(REFERENCE_PREFIX)
        }
        for key in references:
            if not REFERENCE_KEY_RE.match(key):
                raise ma.ValidationError(
                    ["Use letters, digits, '_' or '-' (1-64) for the key."],
                    field_name=REFERENCE_PREFIX + key,
                )
        data["client_reference"] = references
        return data


class JobListArgs(JobFilterArgs):
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(1, 500))
    after = ma.fields.String(
        validate=JOB_ID, metadata={"description": "Cursor: the last jobId of the previous page."}
    )


class JobSchema(ma.Schema):
    """JobResponse."""

    jobId = ma.fields.String(attribute="id", required=True)
    clientId = ma.fields.Integer(attribute="client_id", required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))
    operation = ma.fields.String(required=True)
    prompts = ma.fields.List(ma.fields.String(), required=True)
    model = ma.fields.String(required=True)
    temperature = ma.fields.Float(required=True, allow_none=True)
    priority = ma.fields.Integer(required=True)
    requestData = ma.fields.Dict(attribute="request_data", required=True)
    clientReference = ma.fields.Dict(attribute="client_reference", required=True, allow_none=True)
    responseData = ma.fields.Dict(attribute="response_data", required=True, allow_none=True)
    processingMetrics = ma.fields.Dict(
        attribute="processing_metrics", required=True, allow_none=True
    )
    errorData = ma.fields.Dict(attribute="error_data", required=True, allow_none=True)
    createdAt = UTCDateTime(attribute="created_at", required=True)
    updatedAt = UTCDateTime(attribute="updated_at", required=True)
    attempts = ma.fields.Integer(
        required=True, metadata={"description": "Claims that counted so far"})
    maxAttempts = ma.fields.Integer(attribute="max_attempts", required=True)
    availableAt = UTCDateTime(
        attribute="available_at", required=True,
        metadata={"description": "When a PENDING job may be claimed (later after a retry)"})
    estimatedTokens = ma.fields.Integer(attribute="estimated_tokens", required=True,
                                        allow_none=True)


class JobSummarySchema(ma.Schema):
    PENDING = ma.fields.Integer(required=True)
    PROCESSING = ma.fields.Integer(required=True)
    PROCESSED = ma.fields.Integer(required=True)
    CONSUMED = ma.fields.Integer(required=True)
    ERROR_PROCESSING = ma.fields.Integer(required=True)
    ERROR_CONSUMING = ma.fields.Integer(required=True)
    CANCELED = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)
