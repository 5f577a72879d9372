"""schema.postgresql.sql: the models mirror it as they mirror schema.sql, it holds the
engine's DDL unchanged, and instances starting together apply it once."""

import pathlib
import sqlite3
import threading

import psycopg
import pytest

import pgcluster
from jobsapi import database, postgres
from jobsapi.models import MODELS as SERVICE_MODELS
from schedules.models import MODELS as ENGINE_MODELS

MODELS = SERVICE_MODELS + ENGINE_MODELS
ROOT = pathlib.Path(__file__).resolve().parent.parent
COLUMNS = """
    SELECT c.column_name, c.data_type, c.is_nullable, c.is_identity,
           coalesce(k.constraint_type, '')
    FROM information_schema.columns c
    LEFT JOIN (SELECT u.column_name, t.constraint_type FROM information_schema.key_column_usage u
               JOIN information_schema.table_constraints t USING (constraint_name, table_name)
               WHERE u.table_name = %(table)s AND t.constraint_type = 'PRIMARY KEY') k
        USING (column_name)
    WHERE c.table_name = %(table)s AND c.table_schema = 'public'
    ORDER BY c.ordinal_position"""


def columns(url, table):
    """(name, type, nullable, identity, primary key) per column, as PostgreSQL reports them."""
    with psycopg.connect(url) as connection:
        return connection.execute(COLUMNS, {"table": table}).fetchall()


def tables(url):
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return sorted(name for (name,) in rows)


@pytest.fixture
def fresh():
    """Makes new databases on the test PostgreSQL: (URL, peewee database), closed after."""
    made = []

    def make():
        url = pgcluster.cluster().create_database()
        made.append(postgres.open_database(url, 4))
        return url, made[-1]

    yield make
    for db in made:
        db.close_all()


def test_models_match_schema_postgresql_sql(fresh):
    from_schema, db = fresh()
    with db.connection_context():
        database.apply_schema(db)
    from_models, models_db = fresh()
    with models_db.bind_ctx(MODELS), models_db.connection_context():
        models_db.create_tables(MODELS)

    expected = sorted(model._meta.table_name for model in MODELS)
    assert tables(from_models) == expected
    assert tables(from_schema) == sorted(expected + ["schema_version"])
    for model in MODELS:
        table = model._meta.table_name
        assert columns(from_schema, table) == columns(from_models, table), table


def test_it_includes_the_engines_tables_as_they_ship():
    engine = (ROOT / "schedules" / "schema.postgresql.sql").read_text()
    statements = engine[engine.index("CREATE TABLE"):].strip()
    assert statements in postgres.SCHEMA_PATH.read_text()


def test_instances_starting_together_apply_it_once_and_a_newer_one_is_refused(fresh):
    url, _ = fresh()
    errors, together = [], threading.Barrier(4)

    def start():
        db = postgres.open_database(url, 2)
        together.wait()
        try:
            with db.connection_context():
                database.apply_schema(db)
        except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
            errors.append(exc)
        finally:
            db.close_all()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(url, autocommit=True) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (database.SCHEMA_VERSION,)]
        connection.execute("UPDATE schema_version SET version = version + 1")
    db = postgres.open_database(url, 2)
    try:
        with db.connection_context(), pytest.raises(RuntimeError, match="newer than this code"):
            database.apply_schema(db)
    finally:
        db.close_all()


def test_job_counts_follow_the_jobs_as_on_sqlite(fresh):
    url, db = fresh()
    with db.connection_context():
        database.apply_schema(db)
    with psycopg.connect(url, autocommit=True) as connection:
        run = connection.execute
        run("INSERT INTO users (username, password_hash, role, created_at)"
            " VALUES ('u', 'h', 'client', now())")
        for number, model in enumerate(("a", "a", "b")):
            run("INSERT INTO jobs (id, client_id, operation, prompts, model, request_data,"
                " created_at, updated_at, available_at) VALUES (%s, 1, 'op', '[]', %s, '{}',"
                " now(), now(), now())", (f"{number:024d}", model))
        run("UPDATE jobs SET status = 'PROCESSING' WHERE id = %s", (f"{0:024d}",))
        run("UPDATE jobs SET deleted_at = now() WHERE id = %s", (f"{1:024d}",))
        run("DELETE FROM jobs WHERE id = %s", (f"{2:024d}",))
        counts = run("SELECT model, status, jobs FROM job_counts WHERE jobs <> 0"
                     " ORDER BY 1, 2").fetchall()
    assert counts == [("a", "PROCESSING", 1)]


def test_it_has_the_indexes_and_triggers_of_schema_sql(fresh, tmp_path):
    """The same named indexes (partial ones included: a lost job_runs_slot would let a
    slot fire twice) and triggers as SQLite's DDL; unique or not alike."""
    lite = sqlite3.connect(tmp_path / "schema.db")
    lite.executescript(database.SCHEMA_PATH.read_text())
    sqlite_indexes = {name: bool(unique) for name, unique in lite.execute(
        "SELECT name, sql LIKE 'CREATE UNIQUE%' FROM sqlite_master WHERE type = 'index'"
        " AND sql IS NOT NULL")}
    sqlite_triggers = {name for (name,) in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    url, db = fresh()
    with db.connection_context():
        database.apply_schema(db)
    with psycopg.connect(url) as connection:
        postgres_indexes = dict(connection.execute(
            "SELECT indexname, indexdef LIKE 'CREATE UNIQUE%' FROM pg_indexes"
            " WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey'"
            " AND indexname NOT LIKE '%\\_key'").fetchall())
        postgres_triggers = {name for (name,) in connection.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert postgres_indexes == sqlite_indexes
    assert postgres_triggers == sqlite_triggers
