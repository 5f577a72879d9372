"""Real processes on one database (a SQLite file, or PostgreSQL): each slot fires once,
and a killed run does not stick."""

import collections
import contextlib
import pathlib
import signal
import sqlite3
import subprocess
import sys

import psycopg
import pytest

import conftest
import pgcluster
from conftest import wait_for

pytestmark = pytest.mark.both_backends

WORKER = pathlib.Path(__file__).resolve().parent / "scheduler_worker.py"
SCHEMA = WORKER.parent.parent / "schema.sql"
ENGINE_SCHEMA_POSTGRESQL = WORKER.parent.parent / "schedules" / "schema.postgresql.sql"


def new_database(tmp_path):
    """A database holding the engine's tables, made before the processes race to: a
    SQLite file in WAL mode, or a fresh PostgreSQL database."""
    if conftest.POSTGRESQL:
        url = pgcluster.cluster().create_database()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(ENGINE_SCHEMA_POSTGRESQL.read_text())
        return url
    db_path = tmp_path / "s.db"
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        connection.execute("PRAGMA journal_mode = wal")
        connection.executescript(SCHEMA.read_text())
    return db_path


def start(db_path, seconds, *flags):
    return subprocess.Popen([sys.executable, str(WORKER), str(db_path), str(seconds), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def end(process):
    """Kill `process` if it still runs, and reap it."""
    if process is not None and process.poll() is None:
        process.kill()
        process.communicate(timeout=10)


def query(db_path, sql, *params):
    """Rows of `sql`, or [] while the workers have not created the database yet."""
    if not str(db_path).startswith("postgresql://") and not pathlib.Path(db_path).exists():
        return []
    try:
        return conftest.query(db_path, sql, params)
    except sqlite3.OperationalError:  # no such table yet
        return []


def test_two_processes_on_one_database_fire_each_slot_once(tmp_path):
    db_path = new_database(tmp_path)
    processes = [start(db_path, 6), start(db_path, 6)]
    try:
        outputs = [process.communicate(timeout=20) for process in processes]
    finally:
        for process in processes:
            end(process)
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr and "failed" not in stderr, stderr

    rows = query(db_path, "SELECT scheduled_for, result FROM job_runs WHERE job_id = 'tick'")
    per_slot = collections.Counter(slot for slot, _ in rows)
    assert len(per_slot) >= 3
    assert [slot for slot, count in per_slot.items() if count > 1] == []
    assert sum(result == "success" for _, result in rows) >= 3


def test_a_run_of_a_killed_process_ends_interrupted_and_the_job_runs_again(tmp_path):
    db_path = new_database(tmp_path)
    running = ("SELECT id, scheduled_for, owner FROM job_runs "
               "WHERE job_id = 'slow' AND result = 'running'")
    doomed, fresh = start(db_path, 30, "--slow"), None
    try:
        [(run_id, slot, owner)] = wait_for(lambda: query(db_path, running), timeout=10)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=10)
        assert query(db_path, "SELECT result FROM job_runs WHERE id = ?", run_id) == [("running",)]

        fresh = start(db_path, 30, "--slow")
        rerun = ("SELECT id, scheduled_for, owner FROM job_runs WHERE job_id = 'slow' "
                 "AND scheduled_for > ? AND result NOT IN ('skipped', 'missed')")
        later = wait_for(lambda: query(db_path, rerun, slot), timeout=12)
        assert len(later) == 1, "the job was not claimed again after its process died"
        fresh.send_signal(signal.SIGTERM)  # a clean stop: the new run ends interrupted too
        _, stderr = fresh.communicate(timeout=10)
        assert fresh.returncode == 0, stderr
    finally:
        end(doomed)
        end(fresh)

    [(result, details)] = query(db_path, "SELECT result, details FROM job_runs WHERE id = ?",
                                run_id)
    assert (result, "heartbeat" in details) == ("interrupted", True)
    [(later_id, _, later_owner)] = later
    assert later_owner != owner
    [(result, details)] = query(db_path, "SELECT result, details FROM job_runs WHERE id = ?",
                                later_id)
    assert (result, "stopped" in details) == ("interrupted", True)
    assert query(db_path, "SELECT id FROM job_runs WHERE result = 'running'") == []
