"""The worker protocol's built-in tasks on injected rows: purge-finished-jobs (with the
jobs' attempts and old idempotency keys) and reap-leases."""

import datetime as dt
import logging
import threading

import pytest
from flask import current_app

from conftest import ADMIN_PASSWORD
from jobsapi import claims, create_app, database, worktasks
from jobsapi.ids import new_job_id
from jobsapi.models import IdempotencyKey, Job, JobAttempt, User
from jobsapi.timeutil import utcnow
from schedules import TaskContext

DAY = dt.timedelta(days=1)


def context(job_id):
    settings = current_app.extensions["jobsapi.scheduler"].settings
    return TaskContext(0, job_id, "test", logging.getLogger("tests.worktasks"),
                       threading.Event(), settings)


def job(owner, status, updated, attempts=0):
    job_id = new_job_id()
    Job.create(id=job_id, client=owner, status=status, operation="o", prompts=["p"], model="m",
               request_data={}, created_at=updated, updated_at=updated, available_at=updated,
               attempts=attempts)
    return job_id


def attempt(job_id, outcome, claimed, expires):
    return JobAttempt.create(job=job_id, attempt=1, worker_id="w", user_id=1,
                             lease_hash=new_job_id(), lease_seconds=60, claimed_at=claimed,
                             lease_expires_at=expires, outcome=outcome).id


@pytest.fixture
def retaining(tmp_path):
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "JOBSAPI_RETAIN_FINISHED_DAYS": 7})
    with app.app_context(), database.current().connection_context():
        yield User.get(User.username == "admin")


def test_purge_finished_jobs_deletes_old_consumed_and_canceled_jobs_only(retaining):
    now = utcnow()
    old = [job(retaining, status, now - 8 * DAY) for status in ("CONSUMED", "CANCELED")]
    kept = [job(retaining, "CONSUMED", now - 6 * DAY), job(retaining, "PROCESSED", now - 30 * DAY),
            job(retaining, "ERROR_PROCESSING", now - 30 * DAY)]
    attempt(old[0], "processed", now - 9 * DAY, now - 9 * DAY)
    IdempotencyKey.create(user_id=retaining.id, key="old", request_hash="h", status=201,
                          response="[]", created_at=now - 2 * DAY)
    IdempotencyKey.create(user_id=retaining.id, key="new", request_hash="h", status=201,
                          response="[]", created_at=now)
    details = worktasks.purge_finished_jobs(context("purge-finished-jobs"))
    assert {row.id for row in Job.select(Job.id)} == set(kept)
    assert JobAttempt.select().count() == 0  # went with their job
    assert [row.key for row in IdempotencyKey.select()] == ["new"]
    assert details == "Purged 2 jobs finished more than 7 days ago; forgot 1 idempotency keys"


def test_purge_finished_jobs_keeps_everything_when_retention_is_unset(app):
    with app.app_context(), database.current().connection_context():
        owner = User.get(User.username == "admin")
        finished = job(owner, "CONSUMED", utcnow() - 400 * DAY)
        details = worktasks.purge_finished_jobs(context("purge-finished-jobs"))
        assert [row.id for row in Job.select(Job.id)] == [finished]
    assert details.startswith("Kept every finished job")


def test_reap_leases_settles_each_lapsed_lease(app):
    with app.app_context(), database.current().connection_context():
        owner, now = User.get(User.username == "admin"), utcnow()
        lapsed = job(owner, "PROCESSING", now, attempts=1)
        live = job(owner, "PROCESSING", now, attempts=1)
        attempt(lapsed, "running", now - DAY, now - dt.timedelta(seconds=1))
        attempt(live, "running", now, now + DAY)
        assert worktasks.reap_leases(context("reap-leases")) == (
            "Took back 1 jobs whose lease lapsed")
        assert Job.get_by_id(lapsed).status == "PENDING"
        assert Job.get_by_id(live).status == "PROCESSING"
        assert claims.reap(now) == 0  # nothing left to take back


def test_a_lapsed_lease_of_a_job_moved_on_just_ends(app):
    with app.app_context(), database.current().connection_context():
        owner, now = User.get(User.username == "admin"), utcnow()
        moved = job(owner, "PROCESSED", now, attempts=1)  # an admin's PATCH, say
        attempt(moved, "running", now - DAY, now - dt.timedelta(seconds=1))
        assert claims.reap(now) == 1
        assert Job.get_by_id(moved).status == "PROCESSED"
        assert JobAttempt.get(JobAttempt.job == moved).outcome == "lease_expired"


def test_a_cancel_after_a_lease_lapsed_stays_canceled(app):
    from jobsapi import outcomes

    with app.app_context(), database.current().connection_context():
        owner, now = User.get(User.username == "admin"), utcnow()
        job_id = job(owner, "PENDING", now)
        [held] = claims.claim(owner, "w", lease_seconds=10, now=now)
        later = now + dt.timedelta(seconds=20)  # the worker died; nobody reaped yet
        assert outcomes.cancel(owner, job_id, now=later).status == "CANCELED"
        claims.reap(later + dt.timedelta(seconds=1))
        assert Job.get_by_id(job_id).status == "CANCELED"
        assert held.job.id == job_id


def test_a_reported_total_past_belief_keeps_the_estimate(app):
    from jobsapi import outcomes

    with app.app_context(), database.current().connection_context():
        owner, now = User.get(User.username == "admin"), utcnow()
        job(owner, "PENDING", now)
        [held] = claims.claim(owner, "w", now=now)
        outcomes.complete(held.job.id, held.token, processing_metrics={"totalTokens": 10**20},
                          now=now)
        assert JobAttempt.get(JobAttempt.job == held.job.id).tokens == 1  # "p": 1 char / 4
