"""The engine's tables (DDL in schedules/schema.sql), bound to a database per thread."""

import contextlib
import pathlib
import threading
import weakref

import peewee as pw
from playhouse.shortcuts import ThreadSafeDatabaseMetadata

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schema.sql"
# The advisory lock (a bigint key) PostgreSQL writers take turns on.
WRITERS_LOCK = 0x6A6F6273_0002
RESULTS = ("running", "success", "error", "skipped", "missed", "interrupted")


class BaseModel(pw.Model):
    """Bound with `database.bind(MODELS)`, for the binding thread (peewee's
    ThreadSafeDatabaseMetadata): schedulers on different databases share a process."""

    class Meta:
        database = None
        legacy_table_names = False
        model_metadata_class = ThreadSafeDatabaseMetadata


class ScheduledJob(BaseModel):
    """Per task: what admins changed (NULL = the code's default) and the last slot handled."""

    id = pw.TextField(primary_key=True)
    schedule = pw.TextField(null=True)
    enabled = pw.BooleanField(null=True)
    stopped = pw.BooleanField(default=False)
    last_slot = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "scheduled_jobs"


class JobRun(BaseModel):
    """One run, or one skipped or missed slot. `owner` and `heartbeat_at` are the lease."""

    job = pw.ForeignKeyField(ScheduledJob, column_name="job_id", backref="runs")
    scheduled_for = pw.DateTimeField(null=True)
    started_at = pw.DateTimeField()
    completed_at = pw.DateTimeField(null=True)
    duration_ms = pw.IntegerField(null=True)
    result = pw.TextField()
    triggered_by = pw.TextField()
    details = pw.TextField(null=True)
    owner = pw.TextField(null=True)
    heartbeat_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "job_runs"


MODELS = [ScheduledJob, JobRun]


def bind(database):
    """Bind the engine's models to `database` in this thread, unless they are already."""
    if ScheduledJob._meta.database is not database:
        database.bind(MODELS, bind_refs=False, bind_backrefs=False)


@contextlib.contextmanager
def write_transaction(database):
    """A transaction for a read-then-write. On SQLite it takes the write lock at once
    (BEGIN IMMEDIATE), so writers queue for it instead of failing to upgrade, and the
    writers of this process queue first on a lock of their own: one is woken the moment
    the other commits, where SQLite's busy handler would have them sleep and retry.

    On PostgreSQL the transaction takes a transaction-scoped advisory lock first: the
    writers of every instance on the database take turns as SQLite's do, so each one's
    read-then-write sees what the one before it wrote."""
    if isinstance(database, pw.PostgresqlDatabase):
        with database.atomic():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
            yield
        return
    if not isinstance(database, pw.SqliteDatabase):
        with database.atomic():
            yield
        return
    with _writer_lock(database), database.atomic("IMMEDIATE"):
        yield


_writer_locks = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def _writer_lock(database):
    """The lock this process's writers to `database` queue on (re-entrant: a write
    transaction inside another is a savepoint)."""
    with _writer_locks_guard:
        lock = _writer_locks.get(database)
        if lock is None:
            lock = _writer_locks[database] = threading.RLock()
        return lock
