"""Where database dialects differ (write transactions, JSON reads): one place for each."""

import peewee as pw


class SQLite:
    """SQLite: one writer at a time; JSON text read with the JSON1 functions."""

    @staticmethod
    def write_transaction(database):
        """A transaction that takes the write lock at once (BEGIN IMMEDIATE): writers that
        read first queue for the lock instead of failing on upgrade."""
        return database.atomic("IMMEDIATE")

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


def of(database):
    """The dialect of a peewee database (or of the database a proxy stands for)."""
    database = getattr(database, "obj", database)
    if not isinstance(database, pw.SqliteDatabase):
        raise NotImplementedError(f"no dialect for {type(database).__name__}")
    return SQLite


def write_transaction(database):
    """The dialect's write transaction on `database`."""
    return of(database).write_transaction(database)
