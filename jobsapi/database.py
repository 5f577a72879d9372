"""Each app's database: made and bound in init_app, one pooled connection per request,
and its schema applied on start: schema.sql on SQLite (a file path, the default),
schema.postgresql.sql on PostgreSQL (a postgresql:// URL)."""

import os
import pathlib
import sqlite3

from flask import current_app
from playhouse.pool import PooledSqliteDatabase

from schedules import models as engine_models

from . import dialect, models, postgres

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 6
MODELS = models.MODELS + engine_models.MODELS


def _attempts_by_model(database):
    """Version 5's change to job_attempts, when there is one (a database older than
    version 4 gets the table, as it is now, from schema.sql)."""
    if "job_attempts" in database.get_tables():
        for statement in (
                "ALTER TABLE job_attempts ADD COLUMN model TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE job_attempts ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
                "UPDATE job_attempts SET model = (SELECT model FROM jobs WHERE jobs.id = job_id)"):
            database.execute_sql(statement)


# Upgrade steps: UPGRADES[n] holds the statements (SQL, or functions of the database) that
# turn a version n-1 database into version n, run before schema.sql is applied again (its
# statements are idempotent, so purely additive steps, such as new tables and indexes,
# need no statements here).
UPGRADES = {
    2: [],  # version 2 added the scheduler tables and the activity log
    # version 3: lockout per username and address, revoked access tokens, run-log order
    3: ["ALTER TABLE login_failures ADD COLUMN address TEXT"],
    # version 4: workers (attempts, leases, retries), API keys, idempotency keys
    4: [
        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0)",
        "ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5"
        " CHECK (max_attempts BETWEEN 1 AND 100)",
        "ALTER TABLE jobs ADD COLUMN available_at DATETIME NOT NULL DEFAULT ''",
        "UPDATE jobs SET available_at = created_at",
        "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0"
        " CHECK (cancel_requested IN (0, 1))",
    ],
    # version 5: per-model limits (token estimates, snoozes, attempts by model)
    5: [
        "ALTER TABLE jobs ADD COLUMN estimated_tokens INTEGER"
        " CHECK (estimated_tokens IS NULL OR estimated_tokens >= 0)",
        "ALTER TABLE jobs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0 CHECK (snoozes >= 0)",
        _attempts_by_model,
    ],
    # version 6: live jobs counted per model and status (the triggers come with schema.sql)
    6: [
        "CREATE TABLE job_counts (model TEXT NOT NULL, status TEXT NOT NULL,"
        " jobs INTEGER NOT NULL, PRIMARY KEY (model, status))",
        "INSERT INTO job_counts (model, status, jobs) SELECT model, status, count(*)"
        " FROM jobs WHERE deleted_at IS NULL GROUP BY model, status",
    ],
}

# PostgreSQL's upgrade steps, as UPGRADES (a database there starts at version 6).
POSTGRESQL_UPGRADES = {}

PRAGMAS = {
    "busy_timeout": 10000,  # first: switching to WAL may itself wait for a lock
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
}


def init_app(app):
    """Give the app its database (app.extensions["jobsapi.db"]), bound in the calling
    thread and in each request's, and bring its schema up to date.

    With JOBSAPI_CREATE_DATABASE false (the CLI), a missing file is left missing: the
    commands that write call `prepare` first, the others refuse (see `is_present`)."""
    app.config.setdefault("JOBSAPI_CREATE_DATABASE", True)
    db = open_database(app.config)
    app.extensions["jobsapi.db"] = db
    bind(db)
    if app.config["JOBSAPI_CREATE_DATABASE"] or is_present(app):
        prepare(app)
    app.before_request(bind_app_database)
    app.teardown_appcontext(close_connection)


def open_database(config):
    """The pooled peewee database JOBSAPI_DATABASE names: a request takes a connection at
    its first query and gives it back in teardown, so a connection's set-up is paid once,
    not once per request. A PostgreSQL server must answer now (else one line and exit)."""
    name = config["JOBSAPI_DATABASE"]
    if postgres.is_url(name):
        size = config.get("JOBSAPI_DATABASE_POOL") or (
            config["JOBSAPI_THREADS"] + config["JOBSAPI_SCHEDULER_THREADS"] + 4)
        db = postgres.open_database(postgres.check_url(name), size)
        postgres.check_reachable(db)
        return db
    return PooledSqliteDatabase(name, pragmas=PRAGMAS, timeout=10, max_connections=None,
                                stale_timeout=600, check_same_thread=False)


def is_postgresql(app):
    """Whether the app runs on PostgreSQL."""
    return postgres.is_url(app.config["JOBSAPI_DATABASE"])


def file_of(app):
    """The app's SQLite database file; None on PostgreSQL (or in memory)."""
    path = app.config["JOBSAPI_DATABASE"]
    return None if is_postgresql(app) or path == ":memory:" else path


def now():
    """Now, as naive UTC, on the clock of the calling thread's database (the server's,
    on PostgreSQL, shared by every instance)."""
    db = current()
    return dialect.of(db).now(db)


def bind(db):
    """Bind the service's and the engine's models to `db` in the calling thread."""
    if models.User._meta.database is not db:
        db.bind(MODELS, bind_refs=False, bind_backrefs=False)


def current():
    """The database the calling thread's models are bound to."""
    return models.User._meta.database


def writing():
    """A write transaction (read-then-write) on the calling thread's database."""
    return dialect.write_transaction(current())


def bind_app_database():
    """Bind the models to the app's database in the request's thread."""
    bind(current_app.extensions["jobsapi.db"])


def close_connection(exc):
    """Give this thread's connection back to the pool after the request."""
    db = current_app.extensions["jobsapi.db"]
    if not db.is_closed():
        db.close()


def is_present(app):
    """Whether the app's database file exists (an in-memory one always does, and so does a
    PostgreSQL database, which the server was just asked about)."""
    path = app.config["JOBSAPI_DATABASE"]
    return path == ":memory:" or is_postgresql(app) or os.path.exists(path)


def prepare(app):
    """Create the database file (and its directory) if missing; bring its schema up to date."""
    path = file_of(app)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = app.extensions["jobsapi.db"]
    with db.connection_context():
        apply_schema(db)


def missing_message(app):
    """What to tell someone whose command found no database."""
    path = os.path.abspath(app.config["JOBSAPI_DATABASE"])
    return f"no database at {path}: set JOBSAPI_DATABASE as the server has it"


def apply_schema(database):
    """Create the schema on an empty database, or run the upgrade steps it lacks."""
    if isinstance(database, postgres.pw.PostgresqlDatabase):
        # The first version on PostgreSQL is 6: later ones add their steps here.
        postgres.apply_schema(database, SCHEMA_VERSION, POSTGRESQL_UPGRADES)
        return
    version = database.execute_sql("PRAGMA user_version").fetchone()[0]
    if version == 0:
        database.connection().executescript(SCHEMA_PATH.read_text())
        return
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {version} is newer than this code ({SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return
    # One transaction for the steps, schema.sql and the new version (SQLite's DDL is
    # transactional): a crash leaves the old version whole, and of two processes starting
    # at once, the second finds the work done.
    with dialect.write_transaction(database):
        current = database.execute_sql("PRAGMA user_version").fetchone()[0]
        for step in range(current + 1, SCHEMA_VERSION + 1):  # another process may be done
            for statement in UPGRADES[step]:
                if callable(statement):
                    statement(database)
                else:
                    database.execute_sql(statement)
        if current < SCHEMA_VERSION:
            for statement in statements(SCHEMA_PATH.read_text()):
                database.execute_sql(statement)


def statements(script):
    """The statements of an SQL script, one by one (a trigger's body kept whole)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        if not statement and (not line.strip() or line.lstrip().startswith("--")):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
