"""The built-in maintenance tasks on injected rows, and the scheduler as /health reports it."""

import datetime as dt
import logging
import secrets
import threading
import time

import pytest

from conftest import ADMIN_PASSWORD
from jobsapi import create_app, tasks
from jobsapi.database import db
from jobsapi.ids import new_job_id
from jobsapi.models import Job, RefreshToken, User
from jobsapi.timeutil import utcnow
from schedules import TaskContext
from schedules.models import JobRun

DAY = dt.timedelta(days=1)


def context(job_id):
    return TaskContext(0, job_id, "test", logging.getLogger("tests.tasks"), threading.Event())


@pytest.fixture
def admin_user(app):
    """The app's admin, inside an app context and a database connection."""
    with app.app_context(), db.connection_context():
        yield User.get(User.username == "admin")


def token(user, family, created, expires, revoked=None):
    return RefreshToken.create(user=user, family=family, token_hash=secrets.token_hex(32),
                               created_at=created, expires_at=expires, revoked_at=revoked).id


def work_job(user, deleted_at, now):
    return Job.create(id=new_job_id(), client=user, operation="summarize", prompts=["hi"],
                      model="gpt-test", request_data={}, created_at=now - 60 * DAY,
                      updated_at=now, deleted_at=deleted_at).id


def runs(job_id, count, started):
    """`count` finished runs of `job_id`, a second apart from `started` (ids in time order)."""
    with db.atomic():
        return [JobRun.create(job=job_id, started_at=started + dt.timedelta(seconds=n),
                              completed_at=started + dt.timedelta(seconds=n), duration_ms=5,
                              result="success", triggered_by="scheduler").id
                for n in range(count)]


def stored_ids(model):
    return {row.id for row in model.select(model.id)}


def test_cleanup_deletes_expired_tokens_and_dead_revoked_chains(admin_user):
    now = utcnow()
    live = token(admin_user, "live", now, now + 30 * DAY)
    expired = token(admin_user, "expired", now - 31 * DAY, now - DAY)
    # A rotated chain: its revoked token stays while the chain lives (reuse detection).
    rotated = token(admin_user, "chain", now - 2 * DAY, now + 28 * DAY, revoked=now - DAY)
    successor = token(admin_user, "chain", now - DAY, now + 29 * DAY)
    expired_in_chain = token(admin_user, "chain", now - 40 * DAY, now - 10 * DAY)
    logged_out = token(admin_user, "logged-out", now - 2 * DAY, now + 28 * DAY, revoked=now - DAY)
    dead_a = token(admin_user, "dead", now - 3 * DAY, now + 27 * DAY, revoked=now - 2 * DAY)
    dead_b = token(admin_user, "dead", now - 2 * DAY, now - DAY)
    details = tasks.cleanup_expired_tokens(context("cleanup-expired-tokens"))
    assert stored_ids(RefreshToken) == {live, rotated, successor}
    assert not stored_ids(RefreshToken) & {expired, expired_in_chain, logged_out, dead_a, dead_b}
    assert details == "Deleted 5 expired or revoked refresh tokens"
    assert tasks.cleanup_expired_tokens(context("cleanup-expired-tokens")) == (
        "Deleted 0 expired or revoked refresh tokens")


def test_purge_hard_deletes_only_jobs_deleted_over_30_days_ago(admin_user):
    now = utcnow()
    active = work_job(admin_user, None, now)
    recent = work_job(admin_user, now - 29 * DAY, now)
    old = [work_job(admin_user, now - days * DAY, now) for days in (31, 400)]
    details = tasks.purge_deleted_jobs(context("purge-deleted-jobs"))
    assert stored_ids(Job) == {active, recent}
    assert not stored_ids(Job) & set(old)
    assert details == "Purged 2 jobs deleted more than 30 days ago"


def test_prune_deletes_old_logs_but_keeps_the_last_100_per_job(admin_user):
    now = utcnow()
    old_cleanup = runs("cleanup-expired-tokens", 60, now - 40 * DAY)
    new_cleanup = runs("cleanup-expired-tokens", 60, now - DAY)
    purge = runs("purge-deleted-jobs", 130, now - 29 * DAY)  # many, but not old enough
    prune = runs("prune-job-logs", 5, now - 400 * DAY)  # old, but among the last 100
    details = tasks.prune_job_logs(context("prune-job-logs"))
    assert stored_ids(JobRun) == set(old_cleanup[20:] + new_cleanup + purge + prune)
    assert details == "Deleted 20 run logs older than 30 days"
    counts = {job: JobRun.select().where(JobRun.job == job).count() for job in (spec.id for spec in tasks.registry)}
    assert counts == {"cleanup-expired-tokens": 100, "metadata-sync": 0,
                      "purge-deleted-jobs": 130, "prune-job-logs": 5}


def test_retention_periods_come_from_the_configuration(tmp_path):
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "JOBSAPI_PURGE_AFTER_DAYS": 7, "JOBSAPI_LOG_RETENTION_DAYS": 7})
    with app.app_context(), db.connection_context():
        now, user = utcnow(), User.get(User.username == "admin")
        kept, purged = work_job(user, now - 6 * DAY, now), work_job(user, now - 8 * DAY, now)
        old = runs("prune-job-logs", 110, now - 8 * DAY)
        assert tasks.purge_deleted_jobs(context("purge-deleted-jobs")) == (
            "Purged 1 jobs deleted more than 7 days ago")
        assert tasks.prune_job_logs(context("prune-job-logs")) == (
            "Deleted 10 run logs older than 7 days")
        assert stored_ids(Job) == {kept} and purged not in stored_ids(Job)
        assert stored_ids(JobRun) == set(old[10:])


def test_metadata_sync_refreshes_the_planner_statistics(admin_user):
    now = utcnow()
    for _ in range(3):
        work_job(admin_user, None, now)
    details = tasks.metadata_sync(context("metadata-sync"))
    stats = dict(db.execute_sql("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'jobs'").fetchall())
    assert stats["jobs_live_client"].split()[0] == "3"  # three live rows seen by the planner
    tables = db.execute_sql("SELECT count(DISTINCT tbl) FROM sqlite_stat1").fetchone()[0]
    assert details == f"Query-planner statistics refreshed for {tables} tables" and tables >= 2


def test_health_reports_a_running_scheduler(anonymous, admin):
    # An idle loop sleeps until its next slot; a change wakes it for a pass at once.
    changed = admin.patch("/api/jobs/prune-job-logs", json={"enabled": True})
    assert changed.status_code == 200, changed.text
    time.sleep(0.5)
    response = anonymous.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    scheduler = body["scheduler"]
    assert set(scheduler) == {"state", "heartbeatAge", "runningRuns", "overdueJobs"}
    assert scheduler["state"] == "running"
    assert isinstance(scheduler["heartbeatAge"], (int, float)) and 0 <= scheduler["heartbeatAge"] < 5
    assert isinstance(scheduler["runningRuns"], int) and scheduler["runningRuns"] >= 0
    assert scheduler["overdueJobs"] == []

