"""Where database dialects differ, one place for each difference: the JSON read of the
list filters here, and the write transaction the engine defines (schedules.models)."""

import peewee as pw

from schedules.models import write_transaction

__all__ = ["SQLite", "of", "write_transaction"]


class SQLite:
    """SQLite: JSON text read with the JSON1 functions."""

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
    """The dialect of a peewee database."""
    if not isinstance(database, pw.SqliteDatabase):
        raise NotImplementedError(f"no dialect for {type(database).__name__}")
    return SQLite
