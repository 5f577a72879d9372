"""Peewee models mirroring schema.sql (a test keeps them equal)."""

import json

import peewee as pw
from playhouse.shortcuts import ThreadSafeDatabaseMetadata


class JSONField(pw.TextField):
    """JSON text in the database (TEXT on SQLite, jsonb on PostgreSQL), Python objects in
    the model."""

    field_type = "JSON"

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    """Bound to an app's database per thread (database.bind): two apps in one process
    each keep their own."""

    class Meta:
        database = None
        legacy_table_names = False
        model_metadata_class = ThreadSafeDatabaseMetadata


class User(BaseModel):
    username = pw.TextField(unique=True)
    password_hash = pw.TextField()
    role = pw.TextField()
    permissions = JSONField(default=list)
    disabled = pw.BooleanField(default=False)
    created_at = pw.DateTimeField()

    class Meta:
        table_name = "users"


class RefreshToken(BaseModel):
    user = pw.ForeignKeyField(User, column_name="user_id", backref="refresh_tokens")
    family = pw.TextField(index=True)
    token_hash = pw.TextField(unique=True)
    created_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(index=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "refresh_tokens"


class LoginFailure(BaseModel):
    username = pw.TextField()
    failed_at = pw.DateTimeField()
    address = pw.TextField(null=True)

    class Meta:
        table_name = "login_failures"


class RevokedToken(BaseModel):
    jti = pw.TextField(primary_key=True)
    expires_at = pw.DateTimeField(index=True)

    class Meta:
        table_name = "revoked_tokens"


class Job(BaseModel):
    id = pw.TextField(primary_key=True)
    client = pw.ForeignKeyField(User, column_name="client_id", backref="jobs")
    status = pw.TextField(default="PENDING")
    operation = pw.TextField()
    prompts = JSONField()
    model = pw.TextField()
    temperature = pw.DoubleField(null=True)
    priority = pw.IntegerField(default=500)
    request_data = JSONField()
    client_reference = JSONField(null=True)
    response_data = JSONField(null=True)
    processing_metrics = JSONField(null=True)
    error_data = JSONField(null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    deleted_at = pw.DateTimeField(null=True)
    attempts = pw.IntegerField(default=0)
    max_attempts = pw.IntegerField(default=5)
    available_at = pw.DateTimeField()
    cancel_requested = pw.BooleanField(default=False)
    estimated_tokens = pw.IntegerField(null=True)
    snoozes = pw.IntegerField(default=0)

    class Meta:
        table_name = "jobs"


class JobAttempt(BaseModel):
    """One claim of a job: its worker, its lease and how it ended."""

    job = pw.ForeignKeyField(Job, column_name="job_id", backref="attempt_rows",
                             on_delete="CASCADE")
    attempt = pw.IntegerField()
    worker_id = pw.TextField()
    user_id = pw.IntegerField()
    lease_hash = pw.TextField(unique=True)
    lease_seconds = pw.IntegerField()
    claimed_at = pw.DateTimeField()
    lease_expires_at = pw.DateTimeField()
    ended_at = pw.DateTimeField(null=True)
    outcome = pw.TextField()
    reported = pw.TextField(null=True)
    error = JSONField(null=True)
    model = pw.TextField(default="")
    tokens = pw.IntegerField(default=0)  # the job's estimate, or the tokens it reported

    class Meta:
        table_name = "job_attempts"


class JobCount(BaseModel):
    """Live jobs of a model in a status, kept by triggers (schema.sql)."""

    model = pw.TextField()
    status = pw.TextField()
    jobs = pw.IntegerField()

    class Meta:
        table_name = "job_counts"
        primary_key = pw.CompositeKey("model", "status")


class ModelLimit(BaseModel):
    """What a model's provider allows; None: no limit."""

    model = pw.TextField(primary_key=True)
    max_concurrency = pw.IntegerField(null=True)
    requests_per_minute = pw.IntegerField(null=True)
    tokens_per_minute = pw.IntegerField(null=True)
    paused_until = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "model_limits"


class ApiKey(BaseModel):
    user = pw.ForeignKeyField(User, column_name="user_id", backref="api_keys")
    name = pw.TextField()
    key_hash = pw.TextField(unique=True)
    created_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class IdempotencyKey(BaseModel):
    user_id = pw.IntegerField()
    key = pw.TextField()
    request_hash = pw.TextField()
    status = pw.IntegerField()
    response = pw.TextField()
    created_at = pw.DateTimeField()

    class Meta:
        table_name = "idempotency_keys"
        primary_key = pw.CompositeKey("user_id", "key")


class Activity(BaseModel):
    user_id = pw.IntegerField(null=True)
    username = pw.TextField(null=True)
    action = pw.TextField()
    resource = pw.TextField(null=True)
    resource_id = pw.TextField(null=True)
    details = JSONField(null=True)
    ip = pw.TextField(null=True)
    user_agent = pw.TextField(null=True)
    created_at = pw.DateTimeField()

    class Meta:
        table_name = "activities"


MODELS = [User, ApiKey, RefreshToken, LoginFailure, RevokedToken, Job, JobAttempt,
          IdempotencyKey, JobCount, ModelLimit, Activity]
