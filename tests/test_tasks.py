"""The built-in maintenance tasks on injected rows, and the scheduler as /health reports it."""

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from flask import current_app

from conftest import ADMIN_PASSWORD
from jobsapi import create_app, database, tasks
from jobsapi.ids import new_job_id
from jobsapi.models import Job, RefreshToken, RevokedToken, User
from jobsapi.timeutil import utcnow
from schedules import TaskContext
from schedules.doorbell import bell_for
from schedules.models import JobRun

DAY = dt.timedelta(days=1)


def context(job_id):
    """A task's context as the app's scheduler gives it (the app's task settings)."""
    settings = current_app.extensions["jobsapi.scheduler"].settings
    return TaskContext(0, job_id, "test", logging.getLogger("tests.tasks"), threading.Event(),
                       settings)


@pytest.fixture
def admin_user(app):
    """The app's admin, inside an app context and a database connection."""
    with app.app_context(), database.current().connection_context():
        yield User.get(User.username == "admin")


def token(user, family, created, expires, revoked=None):
    return RefreshToken.create(user=user, family=family, token_hash=secrets.token_hex(32),
                               created_at=created, expires_at=expires, revoked_at=revoked).id


def work_job(user, deleted_at, now):
    return Job.create(id=new_job_id(), client=user, operation="summarize", prompts=["hi"],
                      model="gpt-test", request_data={}, created_at=now - 60 * DAY,
                      updated_at=now, available_at=now, deleted_at=deleted_at).id


def runs(job_id, count, started):
    """`count` finished runs of `job_id`, a second apart from `started` (ids in time order)."""
    with database.current().atomic():
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
    # Revoked access tokens are kept until they expire: refused until then anyway.
    RevokedToken.insert_many([("gone-1", now - DAY), ("gone-2", now - dt.timedelta(seconds=1)),
                              ("refused", now + dt.timedelta(minutes=10))],
                             fields=[RevokedToken.jti, RevokedToken.expires_at]).execute()
    details = tasks.cleanup_expired_tokens(context("cleanup-expired-tokens"))
    assert stored_ids(RefreshToken) == {live, rotated, successor}
    assert not stored_ids(RefreshToken) & {expired, expired_in_chain, logged_out, dead_a, dead_b}
    assert [row.jti for row in RevokedToken.select()] == ["refused"]
    assert details == ("Deleted 5 expired or revoked refresh tokens and 2 expired revoked "
                       "access tokens")
    assert tasks.cleanup_expired_tokens(context("cleanup-expired-tokens")) == (
        "Deleted 0 expired or revoked refresh tokens and 0 expired revoked access tokens")


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
                      "purge-deleted-jobs": 130, "prune-job-logs": 5,
                      "backup-database": 0, "cleanup-orphaned-files": 0,
                      "reap-leases": 0, "purge-finished-jobs": 0}


def test_retention_periods_come_from_the_configuration(tmp_path):
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "JOBSAPI_PURGE_AFTER_DAYS": 7, "JOBSAPI_LOG_RETENTION_DAYS": 7})
    with app.app_context(), database.current().connection_context():
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
    stats = dict(database.current().execute_sql("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'jobs'").fetchall())
    assert stats["jobs_live_client"].split()[0] == "3"  # three live rows seen by the planner
    tables = database.current().execute_sql("SELECT count(DISTINCT tbl) FROM sqlite_stat1").fetchone()[0]
    assert details == f"Query-planner statistics refreshed for {tables} tables" and tables >= 2


def test_backup_writes_a_consistent_copy_and_says_where(admin_user, tmp_path):
    work_job(admin_user, None, utcnow())
    details = tasks.backup_database(context("backup-database"))
    [name] = os.listdir(tmp_path / "backups")
    assert re.fullmatch(r"jobsapi-\d{8}T\d{6}Z\.db", name)
    path = tmp_path / "backups" / name
    assert details == (f"Backed up the database to {path} ({path.stat().st_size} bytes); "
                       "removed 0 older backups")
    with contextlib.closing(sqlite3.connect(path)) as copy:
        assert copy.execute("SELECT username FROM users").fetchall() == [("admin",)]
        assert copy.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def backup_files(directory, *names, age=0.0):
    """Empty files named `names` in `directory`, last modified `age` seconds ago."""
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")
        os.utime(directory / name, (time.time() - age,) * 2)


def test_backup_keeps_the_newest_configured_number_in_the_configured_directory(tmp_path):
    directory = tmp_path / "elsewhere"
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "JOBSAPI_BACKUP_DIR": str(directory), "JOBSAPI_BACKUP_KEEP": 2})
    backup_files(directory, "jobsapi-20200101T011500Z.db", "jobsapi-20200102T011500Z.db",
                 "jobsapi-20200103T011500Z.db", "notes.db", "jobsapi-latest.db")
    with app.app_context(), database.current().connection_context():
        details = tasks.backup_database(context("backup-database"))
    assert details.endswith("; removed 2 older backups")
    made = [name for name in os.listdir(directory) if name.startswith("jobsapi-2")]
    assert len(made) == 2 and "jobsapi-20200103T011500Z.db" in made
    assert {"notes.db", "jobsapi-latest.db"} <= set(os.listdir(directory))


def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_cleanup_orphaned_files_removes_only_its_own_orphans(app, tmp_path):
    directory = tmp_path / "backups"
    kept = [f"jobsapi-2026010{day}T011500Z.db" for day in range(3, 10)]
    beyond = ["jobsapi-20260101T011500Z.db", "jobsapi-20260102T011500Z.db"]
    backup_files(directory, *beyond, *kept)
    backup_files(directory, ".jobsapi-20260101T011500Z.db.partial", age=7200)  # interrupted
    backup_files(directory, ".jobsapi-20260110T011500Z.db.partial")  # being written
    foreign = ["notes.txt", "jobsapi.db", ".jobsapi-x.db.partial", "old.db.partial"]
    backup_files(directory, *foreign, age=7200)
    bell = bell_for(str(tmp_path / "jobs.db"))
    bell.listen()
    stale = f"{dead_pid()}-0123abcd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(os.path.join(bell.directory, stale))
    try:
        with app.app_context(), database.current().connection_context():
            details = tasks.cleanup_orphaned_files(context("cleanup-orphaned-files"))
        assert details == ("Removed 4 orphaned files: " + ", ".join(beyond)
                           + ", .jobsapi-20260101T011500Z.db.partial, " + stale)
        assert set(os.listdir(directory)) == {*kept, ".jobsapi-20260110T011500Z.db.partial",
                                              *foreign}
        assert os.listdir(bell.directory) == [os.path.basename(bell.path)]
        with app.app_context(), database.current().connection_context():
            assert tasks.cleanup_orphaned_files(context("cleanup-orphaned-files")) == (
                "Removed 0 orphaned files")
    finally:
        bell.close()


def test_cleanup_orphaned_files_cuts_a_long_list(app, tmp_path):
    names = [f"jobsapi-202601{day:02}T011500Z.db" for day in range(1, 31)]
    backup_files(tmp_path / "backups", *names)
    with app.app_context(), database.current().connection_context():
        details = tasks.cleanup_orphaned_files(context("cleanup-orphaned-files"))
    assert details == ("Removed 23 orphaned files: " + ", ".join(names[:10]) + " and 13 more")


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

