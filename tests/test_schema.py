"""schema.sql is the only DDL: the models mirror it, and old databases upgrade."""

import datetime as dt
import pathlib
import sqlite3

import peewee as pw
import pytest

from jobsapi import database
from jobsapi.models import MODELS as SERVICE_MODELS
from schedules.models import MODELS as ENGINE_MODELS

MODELS = SERVICE_MODELS + ENGINE_MODELS


def columns(connection, table):
    """(name, declared type, not null, primary key) per column, as SQLite reports them."""
    rows = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [(name, kind.upper(), bool(notnull), bool(pk)) for _, name, kind, notnull, _, pk in rows]


def tables(connection):
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return sorted(name for (name,) in rows)


def test_models_match_schema_sql(tmp_path):
    from_schema = sqlite3.connect(tmp_path / "schema.db")
    from_schema.executescript(database.SCHEMA_PATH.read_text())

    models_db = pw.SqliteDatabase(str(tmp_path / "models.db"))
    with models_db.bind_ctx(MODELS):
        models_db.create_tables(MODELS)
    from_models = sqlite3.connect(tmp_path / "models.db")

    assert tables(from_schema) == tables(from_models) == sorted(m._meta.table_name for m in MODELS)
    for model in MODELS:
        table = model._meta.table_name
        assert columns(from_schema, table) == columns(from_models, table), table


def test_schema_sets_the_current_version(app):
    with app.extensions["jobsapi.db"].connection_context():
        version = app.extensions["jobsapi.db"].execute_sql("PRAGMA user_version").fetchone()[0]
    assert version == database.SCHEMA_VERSION


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "future.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {database.SCHEMA_VERSION + 1}")
    connection.close()
    db = pw.SqliteDatabase(str(path))
    with db.connection_context(), pytest.raises(RuntimeError, match="newer than this code"):
        database.apply_schema(db)


def test_pragmas_are_in_force(app):
    with app.extensions["jobsapi.db"].connection_context():
        pragma = lambda name: app.extensions["jobsapi.db"].execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 10000
        assert pragma("synchronous") == 1  # NORMAL


def test_version_2_database_upgrades_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v2.db"
    connection = sqlite3.connect(path)
    connection.executescript((pathlib.Path(__file__).parent / "data" / "schema-v2.sql").read_text())
    connection.execute("INSERT INTO login_failures (username, failed_at) VALUES ('x', '2026-01-01')")
    connection.execute("INSERT INTO users (id, username, password_hash, role, created_at)"
                       " VALUES (1, 'u', 'h', 'client', '2026-01-01 00:00:00')")
    connection.execute("INSERT INTO jobs (id, client_id, operation, prompts, model, request_data,"
                       " created_at, updated_at) VALUES ('" + "a" * 24 + "', 1, 'op', '[]', 'm',"
                       " '{}', '2026-01-02 03:04:05', '2026-01-02 03:04:05')")
    connection.commit()
    connection.close()
    db = pw.SqliteDatabase(str(path))
    with db.connection_context():
        database.apply_schema(db)
        assert db.execute_sql("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION
        assert db.execute_sql("SELECT username, address FROM login_failures").fetchall() == [
            ("x", None)]
        # A job from before the workers: due since it was created, no attempt made yet.
        assert db.execute_sql("SELECT available_at, attempts, max_attempts, cancel_requested"
                              " FROM jobs").fetchall() == [("2026-01-02 03:04:05", 0, 5, 0)]
    upgraded = sqlite3.connect(path)
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    fresh.executescript(database.SCHEMA_PATH.read_text())
    for table in tables(fresh):
        assert columns(upgraded, table) == columns(fresh, table), table
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
    assert upgraded.execute(indexes).fetchall() == fresh.execute(indexes).fetchall()


def test_the_service_schema_includes_the_engines_tables_as_they_ship():
    """schedules/ ships the DDL of its own tables; schema.sql holds it unchanged."""
    from schedules.models import SCHEMA_PATH as ENGINE_SCHEMA

    engine = ENGINE_SCHEMA.read_text()
    statements = engine[engine.index("CREATE TABLE"):].strip()
    assert statements in database.SCHEMA_PATH.read_text()


def test_version_4_database_gets_its_attempts_by_model(tmp_path):
    path = tmp_path / "v4.db"
    connection = sqlite3.connect(path)
    connection.executescript((pathlib.Path(__file__).parent / "data" / "schema-v4.sql").read_text())
    connection.execute("INSERT INTO users (id, username, password_hash, role, created_at)"
                       " VALUES (1, 'u', 'h', 'client', '2026-01-01 00:00:00')")
    connection.execute("INSERT INTO jobs (id, client_id, operation, prompts, model, request_data,"
                       " created_at, updated_at, available_at) VALUES ('" + "b" * 24 + "', 1,"
                       " 'op', '[]', 'gpt-x', '{}', '2026-01-02', '2026-01-02', '2026-01-02')")
    connection.execute("INSERT INTO job_attempts (job_id, attempt, worker_id, user_id, lease_hash,"
                       " lease_seconds, claimed_at, lease_expires_at, outcome) VALUES ('"
                       + "b" * 24 + "', 1, 'w', 1, 'h', 60, '2026-01-02', '2026-01-02', 'processed')")
    connection.commit()
    connection.close()
    db = pw.SqliteDatabase(str(path))
    with db.connection_context():
        database.apply_schema(db)
        assert db.execute_sql("SELECT model, tokens FROM job_attempts").fetchall() == [("gpt-x", 0)]
        assert db.execute_sql("SELECT estimated_tokens, snoozes FROM jobs").fetchall() == [(None, 0)]
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    fresh.executescript(database.SCHEMA_PATH.read_text())
    upgraded = sqlite3.connect(path)
    for table in tables(fresh):
        assert columns(upgraded, table) == columns(fresh, table), table


def test_job_counts_follow_every_write_of_a_job(app):
    """The triggers keep job_counts equal to counting the live jobs."""
    from jobsapi.models import Job, JobCount, User

    def counted():
        return {(row.model, row.status): row.jobs for row in JobCount.select() if row.jobs}

    def actual():
        rows = (Job.select(Job.model, Job.status, pw.fn.COUNT(Job.id))
                .where(Job.deleted_at.is_null()).group_by(Job.model, Job.status).tuples())
        return {(model, status): count for model, status, count in rows}

    with app.extensions["jobsapi.db"].connection_context():
        owner = User.get(User.username == "admin")
        common = dict(client=owner, operation="o", prompts=[], request_data={},
                      created_at=dt.datetime(2026, 1, 1), updated_at=dt.datetime(2026, 1, 1),
                      available_at=dt.datetime(2026, 1, 1))
        for n in range(6):
            Job.create(id=f"{n:024x}", model="a" if n % 2 else "b", **common)
        assert counted() == actual() == {("a", "PENDING"): 3, ("b", "PENDING"): 3}
        Job.update(status="PROCESSING").where(Job.model == "a").execute()
        Job.update(model="c").where(Job.id == f"{0:024x}").execute()
        Job.update(deleted_at=dt.datetime(2026, 1, 2)).where(Job.id == f"{2:024x}").execute()
        Job.update(priority=7).execute()  # no change of model, status or deletion
        Job.delete().where(Job.id == f"{1:024x}").execute()
        assert counted() == actual() == {("a", "PROCESSING"): 2, ("b", "PENDING"): 1,
                                         ("c", "PENDING"): 1}
        Job.update(deleted_at=None).where(Job.id == f"{2:024x}").execute()  # live again
        Job.update(deleted_at=None).where(Job.id == f"{4:024x}").execute()  # was live
        Job.delete().where(Job.id == f"{0:024x}").execute()
        Job.update(deleted_at=dt.datetime(2026, 1, 3)).where(Job.id == f"{3:024x}").execute()
        Job.delete().where(Job.id == f"{3:024x}").execute()  # deleted before: not counted
        assert counted() == actual() == {("a", "PROCESSING"): 1, ("b", "PENDING"): 2}


def test_an_upgrade_that_fails_half_way_leaves_the_old_version_whole(tmp_path, monkeypatch):
    """The steps, schema.sql and the version are one transaction: a failure (a crash, or
    another process first) leaves version 5 as it was, and the next start upgrades."""
    path = tmp_path / "v5.db"
    connection = sqlite3.connect(path)
    connection.executescript((pathlib.Path(__file__).parent / "data" / "schema-v5.sql").read_text())
    connection.close()

    whole = database.statements

    def killed_half_way(script):  # schema.sql applied in part, then the process dies
        for number, statement in enumerate(whole(script)):
            if number == 10:
                raise RuntimeError("killed half way")
            yield statement

    monkeypatch.setattr(database, "statements", killed_half_way)
    db = pw.SqliteDatabase(str(path))
    with db.connection_context(), pytest.raises(RuntimeError, match="half way"):
        database.apply_schema(db)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 5
    assert "job_counts" not in tables(check)
    monkeypatch.undo()
    with db.connection_context():
        database.apply_schema(db)
        database.apply_schema(db)  # a second start finds the work done
    assert check.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    fresh.executescript(database.SCHEMA_PATH.read_text())
    objects = "SELECT type, name FROM sqlite_master ORDER BY type, name"
    assert check.execute(objects).fetchall() == fresh.execute(objects).fetchall()


def test_statements_keep_a_triggers_body_whole():
    script = database.SCHEMA_PATH.read_text()
    found = list(database.statements(script))
    assert len([s for s in found if s.startswith("CREATE TRIGGER")]) == 3
    assert all(sqlite3.complete_statement(statement + ";") or statement.endswith(";")
               for statement in found)
