"""Peewee models mirroring schema.sql (a test keeps them equal)."""

import datetime as dt
import functools
import json
import sqlite3
import typing

import peewee as pw

from . import pointread
from .database import db

# Point reads call the SQLite library of the sqlite3 module. peewee connects through
# pysqlite3 instead when a newer one is installed, and two SQLite libraries must not
# open one database file in one process: then every read goes the regular way.
POINT_READS = pw.sqlite3 is sqlite3


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
    def find(cls, where, *params):
        """The rows matching a plain SQL condition, as instances (read as read_rows does)."""
        return cls.read_rows(cls._select_where(where), params)

    @classmethod
    def select_rows(cls, query):
        """The rows a query on this model finds, as instances (read as read_rows does)."""
        return cls.read_rows(*query.select(pw.SQL(_packing(cls).columns)).sql())

    @classmethod
    def find_one(cls, where, *params):
        """The row a condition on a unique key matches, or None, read with the interpreter
        lock held (pointread) unless a transaction is open: it must see its own writes."""
        row = cls._first_row(cls._select_where(where), params)
        return None if row is None else cls._instance(row)

    @classmethod
    def find_one_value(cls, expression, where, *params):
        """The value of a SQL expression on the row a condition on a unique key matches,
        or None if none does; read as find_one reads."""
        row = cls._first_row(cls._select_where(where, expression), params)
        return None if row is None else row[0]

    @classmethod
    def _first_row(cls, sql, params):
        database, rows = cls._meta.database, None
        if POINT_READS and not database.in_transaction():
            rows = pointread.rows(database.database, sql, params, most=1)
        if rows is None:
            rows = database.execute_sql(sql, params).fetchall()
        return rows[0] if rows else None

    @classmethod
    def _select_where(cls, where, columns=None):
        """The SELECT of `columns` (the packed columns by default) of the rows matching
        `where`."""
        columns = _packing(cls).columns if columns is None else columns
        return f"SELECT {columns} FROM {cls._meta.table_name} WHERE {where}"

    @classmethod
    def read_rows(cls, sql, params):
        """Run a SELECT of the packed columns and make instances of its rows.

        Each row comes back as one JSON array of its columns (REAL and BLOB ones aside:
        SQLite's JSON prints floats with 15 digits and holds no bytes). CPython's sqlite3
        releases the interpreter lock once for every column of every row it reads, and
        under load each release hands the lock to another request thread: one column
        instead of sixteen is most of the cost of reading a job.
        """
        return map(cls._instance, cls._meta.database.execute_sql(sql, params))

    @classmethod
    def _instance(cls, row):
        """An instance of one packed row: its JSON array, then the columns read aside."""
        packing = _packing(cls)
        instance = cls(__no_default__=1)
        values = _decode(row[0])[0]  # json_array's text: no whitespace around it
        values.extend(row[1:])
        instance.__data__ = data = dict(zip(packing.names, values))
        for name, read in packing.readers:
            value = data[name]
            if value is not None:
                data[name] = read(value)
        return instance


class _Packing(typing.NamedTuple):
    columns: str  # json_array(a, json(b), ...), real, blob: what read_rows selects
    names: tuple  # the field of each value, in that order
    readers: tuple  # (field name, python_value) where the value needs converting


_ASIDE = (pw.FloatField, pw.BlobField)  # read as columns of their own


@functools.cache
def _packing(model):
    fields = model._meta.sorted_fields
    packed = [field for field in fields if not isinstance(field, _ASIDE)]
    aside = [field for field in fields if isinstance(field, _ASIDE)]
    columns = ", ".join(
        f"json({field.column_name})" if isinstance(field, JSONField) else field.column_name
        for field in packed
    )
    return _Packing(
        columns=", ".join([f"json_array({columns})"] + [field.column_name for field in aside]),
        names=tuple(field.name for field in packed + aside),
        readers=tuple((field.name, _reader(field)) for field in packed
                      if not _verbatim(field)),
    )


_decode = json.JSONDecoder().raw_decode


def _reader(field):
    """A field's python_value, or for a DATETIME its C parser first: peewee's own
    rewrites the text before handing it to the same parser, which on Python 3.11+
    takes it as stored."""
    if type(field) is not pw.DateTimeField:
        return field.python_value

    def read(value):
        try:
            return dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return field.python_value(value)

    return read


def _verbatim(field):
    """Whether a value of `field` comes out of the JSON array as the model holds it."""
    if isinstance(field, pw.ForeignKeyField):
        return _verbatim(field.rel_field)
    return isinstance(field, (pw.TextField, pw.IntegerField))  # JSONField is a TextField


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


MODELS = [User, RefreshToken, LoginFailure, RevokedToken, Job, Activity]
