"""The database handle, its per-request lifecycle, and applying schema.sql."""

import os
import pathlib

from playhouse.pool import PooledSqliteDatabase

from . import pointread

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent.parent / "schema.sql"
SCHEMA_VERSION = 3

# Upgrade steps: UPGRADES[n] holds the statements that turn a version n-1 database into
# version n, run before schema.sql is applied again (its statements are idempotent, so
# purely additive steps, such as new tables and indexes, need no statements here).
UPGRADES = {
    2: [],  # version 2 added the scheduler tables and the activity log
    # version 3: lockout per username and address, revoked access tokens, run-log order
    3: ["ALTER TABLE login_failures ADD COLUMN address TEXT"],
}

PRAGMAS = {
    "busy_timeout": 10000,  # first: switching to WAL may itself wait for a lock
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
}

# Connections are pooled: a request "opens" one by taking it from the pool and "closes"
# it by giving it back, so the pragmas and the schema read are paid once per connection
# instead of once per request. A connection is used by one thread at a time.
db = PooledSqliteDatabase(None, pragmas=PRAGMAS, max_connections=None, stale_timeout=600,
                          check_same_thread=False)


def init_app(app):
    """Bind the database to the app's file, bring its schema up to date, open per request.

    With JOBSAPI_CREATE_DATABASE false (the CLI), a missing file is left missing: the
    commands that write call `prepare` first, the others refuse (see `is_present`)."""
    app.config.setdefault("JOBSAPI_CREATE_DATABASE", True)
    path = app.config["JOBSAPI_DATABASE"]
    if not db.deferred:
        db.close_all()  # pooled connections of an earlier init point at another file
        pointread.forget()  # and so may the point readers
    db.init(path, pragmas=PRAGMAS, timeout=10, check_same_thread=False)
    if app.config["JOBSAPI_CREATE_DATABASE"] or is_present(app):
        prepare(app)
    # A request takes a connection from the pool at its first query (peewee connects on
    # first use) and gives it back in teardown: one that reads only by key (pointread),
    # or is refused before it queries, takes none.
    app.teardown_appcontext(close_connection)
    app.extensions["jobsapi.db"] = db


def is_present(app):
    """Whether the app's database file exists (an in-memory one always does)."""
    path = app.config["JOBSAPI_DATABASE"]
    return path == ":memory:" or os.path.exists(path)


def prepare(app):
    """Create the database file (and its directory) if missing; bring its schema up to date."""
    path = app.config["JOBSAPI_DATABASE"]
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with db.connection_context():
        apply_schema(db)


def missing_message(app):
    """What to tell someone whose command found no database."""
    path = os.path.abspath(app.config["JOBSAPI_DATABASE"])
    return f"no database at {path}: set JOBSAPI_DATABASE as the server has it"


def close_connection(exc):
    """Give this thread's connection back to the pool after the request."""
    if not db.is_closed():
        db.close()


def apply_schema(database):
    """Create the schema on an empty database, or run the upgrade steps it lacks."""
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
    with database.atomic("IMMEDIATE"):
        current = database.execute_sql("PRAGMA user_version").fetchone()[0]
        for step in range(current + 1, SCHEMA_VERSION + 1):  # another process may be done
            for statement in UPGRADES[step]:
                database.execute_sql(statement)
    if current < SCHEMA_VERSION:
        database.connection().executescript(SCHEMA_PATH.read_text())
