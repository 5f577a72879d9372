"""Schemas: the fast JobResponse dump says exactly what marshmallow's would."""

import datetime as dt

import marshmallow as ma

from jobsapi.models import Job
from jobsapi.schemas.jobs import JobSchema


def jobs():
    created = dt.datetime(2024, 1, 15, 6, 0, 0, 123456)
    full = Job(id="0123456789abcdef01234567", client=7, status="PROCESSED", operation="op",
               prompts=["a", "b"], model="m", temperature=1, priority=3,
               request_data={"x": [1, {"y": None}]}, client_reference={"ref": "r"},
               response_data={"out": "text"}, processing_metrics={"ms": 5},
               error_data={"e": 1}, created_at=created, updated_at=created + dt.timedelta(seconds=1))
    bare = Job(id="0123456789abcdef01234568", client=8, status="PENDING", operation="op",
               prompts=["p"], model="m", temperature=None, priority=500, request_data={},
               client_reference=None, response_data=None, processing_metrics=None,
               error_data=None, created_at=created, updated_at=created)
    return [full, bare]


def test_fast_dump_equals_the_fields_dump():
    schema = JobSchema()
    for job in jobs():
        assert schema.dump(job) == ma.Schema.dump(schema, job)
    assert JobSchema(many=True).dump(jobs()) == ma.Schema.dump(JobSchema(many=True), jobs())


def test_dump_formats_times_with_milliseconds_and_z():
    body = JobSchema().dump(jobs()[0])
    assert body["createdAt"] == "2024-01-15T06:00:00.123Z"
    assert body["updatedAt"] == "2024-01-15T06:00:01.123Z"
    assert body["temperature"] == 1.0 and isinstance(body["temperature"], float)
