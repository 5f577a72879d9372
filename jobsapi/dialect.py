"""Where SQLite and PostgreSQL differ, one place for each difference: the JSON read of the
list filters, the clock, the lock a claim takes on the rows it reads, the planner's
statistics; and the write transaction the engine defines (schedules.models)."""

import peewee as pw

from schedules.models import write_transaction

from . import postgres, timeutil

__all__ = ["PostgreSQL", "SQLite", "of", "write_transaction"]


class SQLite:
    """SQLite: JSON text read with the JSON1 functions; this process's clock (one box)."""

    name = "sqlite"
    refuses_nul = False  # text and JSON may hold U+0000

    @staticmethod
    def json_text(column, key):
        """The top-level `key` of a JSON object column as text; JSON true and false as
        'true' and 'false', a missing key as NULL."""
        path = f'$."{key}"'
        return pw.Case(
            pw.fn.json_type(column, path),
            (("true", "true"), ("false", "false")),
            pw.Cast(pw.fn.json_extract(column, path), "TEXT"),
        )

    @staticmethod
    def now(database):
        return timeutil.utcnow()

    @staticmethod
    def skip_locked(query):
        """A read of rows to claim: SQLite's one writer already keeps others out."""
        return query

    @staticmethod
    def analyze(database):
        """Refresh the planner's statistics (sampled: bounded time on large tables); how
        many tables have them."""
        database.execute_sql("PRAGMA analysis_limit = 1000")
        database.execute_sql("ANALYZE")
        return database.execute_sql("SELECT count(DISTINCT tbl) FROM sqlite_stat1").fetchone()[0]


class PostgreSQL:
    """PostgreSQL: jsonb operators, the server's clock shared by every instance, claims
    that pass over rows another transaction holds."""

    name = "postgresql"
    refuses_nul = True  # no text or jsonb value holds U+0000: such a request is a 400

    @staticmethod
    def json_text(column, key):
        """As SQLite's: jsonb's ->> (true and false as 'true' and 'false')."""
        return pw.Expression(column, "->>", pw.Value(key, converter=str))  # the key as text

    @staticmethod
    def now(database):
        return postgres.now(database)

    @staticmethod
    def skip_locked(query):
        """A read of rows to claim: locked, passing over those another claim holds."""
        return query.for_update("FOR UPDATE SKIP LOCKED")

    @staticmethod
    def analyze(database):
        return postgres.analyze(database)


def of(database):
    """The dialect of a peewee database."""
    if isinstance(database, pw.SqliteDatabase):
        return SQLite
    if isinstance(database, pw.PostgresqlDatabase):
        return PostgreSQL
    raise NotImplementedError(f"no dialect for {type(database).__name__}")
