"""Peewee models mirroring schema.sql (a test keeps them equal)."""

import functools
import json

import peewee as pw

from .database import db


class JSONField(pw.TextField):
    """JSON text in the database, Python objects in the model."""

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False

    @classmethod
    def from_sql(cls, sql, *params):
        """The rows of a plain `SELECT * FROM <table> ...` as instances: Model.raw(),
        without working out how to read the columns again on every call."""
        cursor = cls._meta.database.execute_sql(sql, params)
        readers = _readers(cls, tuple(column[0] for column in cursor.description))
        for row in cursor:
            instance = cls(__no_default__=1)
            instance.__data__.update((name, read(value)) for (name, read), value in zip(readers, row))
            yield instance


@functools.cache
def _readers(model, columns):
    """(field name, python_value) for each column a query returns."""
    return tuple((model._meta.columns[column].name, model._meta.columns[column].python_value)
                 for column in columns)


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

    class Meta:
        table_name = "login_failures"


class Job(BaseModel):
    id = pw.TextField(primary_key=True)
    client = pw.ForeignKeyField(User, column_name="client_id", backref="jobs")
    status = pw.TextField(default="PENDING")
    operation = pw.TextField()
    prompts = JSONField()
    model = pw.TextField()
    temperature = pw.FloatField(null=True)
    priority = pw.IntegerField(default=500)
    request_data = JSONField()
    client_reference = JSONField(null=True)
    response_data = JSONField(null=True)
    processing_metrics = JSONField(null=True)
    error_data = JSONField(null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    deleted_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "jobs"


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


MODELS = [User, RefreshToken, LoginFailure, Job, Activity]
