"""Schemas of model limits, queue stats and workers."""

import marshmallow as ma
from marshmallow import validate

from ..states import STATUSES
from .common import StrictSchema, UTCDateTime

COUNT = validate.Range(0, 1_000_000_000)


class ModelLimitSchema(ma.Schema):
    model = ma.fields.String(required=True)
    maxConcurrency = ma.fields.Integer(attribute="max_concurrency", required=True,
                                       allow_none=True)
    requestsPerMinute = ma.fields.Integer(attribute="requests_per_minute", required=True,
                                          allow_none=True)
    tokensPerMinute = ma.fields.Integer(attribute="tokens_per_minute", required=True,
                                        allow_none=True)
    pausedUntil = UTCDateTime(attribute="paused_until", required=True, allow_none=True)
    updatedAt = UTCDateTime(attribute="updated_at", required=True)


class ModelLimitUpdateSchema(StrictSchema):
    """A model's limits as a whole: a field left out or null is no limit."""

    max_concurrency = ma.fields.Integer(data_key="maxConcurrency", strict=True,
                                        allow_none=True, validate=COUNT)
    requests_per_minute = ma.fields.Integer(data_key="requestsPerMinute", strict=True,
                                            allow_none=True, validate=COUNT)
    tokens_per_minute = ma.fields.Integer(data_key="tokensPerMinute", strict=True,
                                          allow_none=True, validate=COUNT)
    paused_until = ma.fields.DateTime(
        data_key="pausedUntil", allow_none=True, format="iso",
        metadata={"description": "ISO 8601; UTC when no offset"})


class UsageSchema(ma.Schema):
    requestsLastMinute = ma.fields.Integer(required=True)
    tokensLastMinute = ma.fields.Integer(required=True)


class ModelStatsSchema(ma.Schema):
    model = ma.fields.String(required=True)
    counts = ma.fields.Dict(keys=ma.fields.String(validate=validate.OneOf(STATUSES)),
                            values=ma.fields.Integer(), required=True)
    oldestPendingSeconds = ma.fields.Float(required=True, allow_none=True)
    inFlight = ma.fields.Integer(required=True)
    processedLastHour = ma.fields.Integer(required=True)
    failedLastHour = ma.fields.Integer(required=True)
    limits = ma.fields.Nested(ModelLimitSchema, required=True, allow_none=True)
    usage = ma.fields.Nested(UsageSchema, required=True)


class QueueStatsSchema(ma.Schema):
    models = ma.fields.List(ma.fields.Nested(ModelStatsSchema), required=True)


class WorkerSchema(ma.Schema):
    workerId = ma.fields.String(required=True)
    userId = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True, allow_none=True)
    firstSeen = UTCDateTime(required=True)
    lastSeen = UTCDateTime(required=True)
    inFlight = ma.fields.Integer(required=True)
    processed = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
