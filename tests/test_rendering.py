"""A row rendered by the database (rendering.json_object) reads as its schema dumps it."""

import datetime as dt
import json

import marshmallow as ma
import pytest

from jobsapi import rendering
from jobsapi.database import db
from jobsapi.models import Job
from jobsapi.schemas.jobs import JobSchema

JOB = rendering.json_object(JobSchema, Job)


def rendered(job_id):
    return json.loads(Job.find_one_value(JOB, "id = ?", job_id))


def dumped(job_id):
    return JobSchema().dump(Job.get_by_id(job_id))


def test_a_job_renders_as_its_schema_dumps_it(awkward_rows):
    with db.connection_context():
        for job_id in ("a" * 24, "b" * 24):
            assert rendered(job_id) == dumped(job_id)
        job = rendered("a" * 24)
    assert job["temperature"] == 0.30000000000000004
    assert job["requestData"] == awkward_rows and job["prompts"][1] == awkward_rows["text"]
    assert job["createdAt"] == "2026-01-02T03:04:05.678Z"  # stored with microseconds
    assert job["updatedAt"] == "2026-01-02T03:04:05.000Z"  # stored without
    assert job["clientReference"] == {"ref": 7} and job["errorData"] is None


@pytest.mark.parametrize("temperature", [0.0, 2.0, 0.1, 1e-05, 5e-324, 1.9999999999999998])
def test_temperatures_render_exactly(awkward_rows, temperature):
    with db.connection_context():
        Job.update(temperature=temperature).where(Job.id == "b" * 24).execute()
        assert rendered("b" * 24)["temperature"] == temperature == dumped("b" * 24)["temperature"]


@pytest.mark.parametrize("stored,shown", [
    (dt.datetime(2026, 1, 2, 3, 4, 5, 999999), "2026-01-02T03:04:05.999Z"),  # cut, not rounded
    (dt.datetime(2026, 12, 31, 23, 59, 59, 1000), "2026-12-31T23:59:59.001Z"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, 999), "2026-01-02T03:04:05.000Z"),
])
def test_times_render_as_the_schema_writes_them(awkward_rows, stored, shown):
    with db.connection_context():
        Job.update(updated_at=stored).where(Job.id == "b" * 24).execute()
        assert rendered("b" * 24)["updatedAt"] == shown == dumped("b" * 24)["updatedAt"]


def test_inside_a_transaction_it_renders_the_transaction(awkward_rows):
    with db.connection_context(), db.atomic() as transaction:
        Job.update(status="CANCELED").where(Job.id == "b" * 24).execute()
        assert rendered("b" * 24)["status"] == "CANCELED"
        transaction.rollback()
    with db.connection_context():
        assert rendered("b" * 24)["status"] == "PENDING"
        assert Job.find_one_value(JOB, "id = ?", "no such job") is None


def test_a_field_it_cannot_render_is_refused():
    class WithBoolean(ma.Schema):
        status = ma.fields.Boolean()

    with pytest.raises(TypeError, match="Boolean"):
        rendering.json_object(WithBoolean, Job)
