"""A prepared query reads what the query builder's query reads, for any values."""

import pytest

from jobsapi import database, workjobs
from jobsapi.models import Job, User
from jobsapi.prepared import Prepared


@pytest.fixture
def people(app):
    with app.app_context(), database.current().connection_context():
        admin = User.get(User.username == "admin")
        alice, bob = (User.create(username=name, password_hash="h", role="client",
                                  created_at=admin.created_at) for name in ("alice", "bob"))
        item = dict(operation="o", prompts=["p"], model="m", request_data={"k": 1}, priority=5,
                    max_attempts=5, estimated_tokens=None)
        mine = workjobs.create_jobs(alice, [item])[0].id
        gone = workjobs.create_jobs(alice, [item])[0].id
        workjobs.delete_jobs(alice, [gone])
        yield admin, alice, bob, (mine, gone, "0" * 24)


def test_a_job_by_id_is_read_as_visible_jobs_reads_it(people):
    admin, alice, bob, ids = people
    for user in (admin, alice, bob):
        for job_id in ids:
            expected = workjobs.visible_jobs(user).where(Job.id == job_id).get_or_none()
            try:
                found = workjobs.get_job(user, job_id)
            except workjobs.JobNotFound:
                found = None
            assert (found and found.__data__) == (expected and expected.__data__), (user, job_id)
    assert workjobs.get_job(alice, ids[0]).request_data == {"k": 1}


def test_markers_must_each_be_bound_once(app):
    doubled = Prepared(Job, lambda job_id: Job.select().where(
        (Job.id == job_id) | (Job.operation == job_id)), ["marker"])
    with app.app_context(), pytest.raises(ValueError, match="markers"):
        doubled.run(database.current(), "x")
