"""The engine's tables (DDL in schedules/schema.sql), bound to a database per thread."""

import pathlib

import peewee as pw
from playhouse.shortcuts import ThreadSafeDatabaseMetadata

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schema.sql"
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


def write_transaction(database):
    """A transaction for a read-then-write: on SQLite it takes the write lock at once
    (BEGIN IMMEDIATE), so writers queue for it instead of failing to upgrade."""
    if isinstance(database, pw.SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()
