"""PostgreSQL through psycopg 3: the URL, the pooled database, how values are read, and
the schema applied under an advisory lock so several instances may start at once."""

import datetime as dt
import pathlib
import urllib.parse

import peewee as pw
import psycopg
from playhouse.pool import PooledPostgresqlDatabase
from psycopg.adapt import AdaptersMap
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent.parent / "schema.postgresql.sql"
SCHEMES = ("postgresql://", "postgres://")
# Advisory lock keys (pg_advisory_xact_lock takes a bigint): the schema's, and the one each
# writer of a kind holds for its read-then-write transaction.
SCHEMA_LOCK = 0x6A6F6273_0001


def is_url(value):
    """Whether a JOBSAPI_DATABASE value names a PostgreSQL database."""
    return isinstance(value, str) and value.startswith(SCHEMES)


def check_url(url):
    """The URL in psycopg's form (postgres:// becomes postgresql://); SystemExit with one
    line when it is not one libpq can read."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise SystemExit(f"JOBSAPI_DATABASE: not a PostgreSQL URL libpq can read: "
                         f"{redact(url)} ({str(exc).strip().splitlines()[0]})") from None
    return url


def redact(url):
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class NaiveUTCLoader(TimestamptzLoader):
    """timestamptz read as naive UTC, as the service holds every time."""

    def load(self, data):
        value = super().load(data)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def adapters():
    """How this service's connections read values: JSON as its text (the models parse
    it, as on SQLite) and timestamptz as naive UTC."""
    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_loader("json", TextLoader)
    adapters.register_loader("jsonb", TextLoader)
    adapters.register_loader("timestamptz", NaiveUTCLoader)
    return adapters


def open_database(url, pool_size):
    """A pooled peewee database on `url` (checked): sessions in UTC, so naive times
    written are read back unchanged; a request waits up to 10 s for a free connection."""
    return PooledPostgresqlDatabase(
        url, prefer_psycopg3=True, max_connections=pool_size, stale_timeout=600, timeout=10,
        context=adapters(), options="-c TimeZone=UTC", connect_timeout=10,
        application_name="jobsapi")


def check_reachable(database):
    """SystemExit with one line when the server cannot be reached or refuses us."""
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
    except pw.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f"JOBSAPI_DATABASE: cannot reach PostgreSQL at "
                         f"{redact(database.database)}: {reason}") from None


def now(database):
    """The database server's clock as naive UTC (to the microsecond): every instance
    compares leases, slots and due times on the same clock."""
    return database.execute_sql("SELECT clock_timestamp()").fetchone()[0]


class Clock:
    """A scheduler's clock on PostgreSQL: the server's, to the millisecond (as the engine
    keeps times). While the server cannot be asked, this process's clock corrected by
    the difference seen last, so the loop goes on."""

    def __init__(self, database):
        self.database = database
        self.offset = dt.timedelta(0)

    def __call__(self):
        local = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        try:
            if self.database.is_closed():
                with self.database.connection_context():
                    server = now(self.database)
            else:
                server = now(self.database)
            self.offset = server - local
        except pw.DatabaseError:
            server = local + self.offset
        return server.replace(microsecond=server.microsecond // 1000 * 1000)


def schema_version(database):
    """The version of the schema in the database; 0 when it has none yet."""
    exists = database.execute_sql("SELECT to_regclass('schema_version')").fetchone()[0]
    if exists is None:
        return 0
    row = database.execute_sql("SELECT version FROM schema_version").fetchone()
    return row[0] if row else 0


def apply_schema(database, version, upgrades):
    """Create the schema, or run the upgrade steps it lacks, in one transaction under an
    advisory lock: of several instances starting at once one does it, the others wait and
    find it done."""
    with database.atomic():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        current = schema_version(database)
        if current > version:
            raise RuntimeError(
                f"database schema version {current} is newer than this code ({version})")
        if current == version:
            return
        if current:
            for step in range(current + 1, version + 1):
                for statement in upgrades.get(step, ()):
                    statement(database) if callable(statement) else database.execute_sql(statement)
        # No parameters: psycopg sends the script as one simple query (functions and all).
        database.cursor().execute(SCHEMA_PATH.read_text())
        database.execute_sql("UPDATE schema_version SET version = %s", (version,))


def analyze(database):
    """Refresh the planner's statistics; how many tables have them."""
    database.execute_sql("ANALYZE")
    return database.execute_sql(
        "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        " OR last_autoanalyze IS NOT NULL").fetchone()[0]
