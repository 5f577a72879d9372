"""The engine's tables (created by the host's schema.sql), bound through a proxy."""

import peewee as pw

database = pw.DatabaseProxy()

RESULTS = ("running", "success", "error", "skipped", "missed", "interrupted")


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


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
