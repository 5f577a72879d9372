"""Response bodies rendered by SQLite: a row as JSON text in a response schema's shape."""

import functools

import marshmallow as ma

from .schemas.common import UTCDateTime


class Rendered(str):
    """JSON text already in the shape of the view's response schema: answered as it is
    (rest.Blueprint.response), without the schema's dump."""


@functools.cache
def json_object(schema, model):
    """The SQL expression rendering a row of `model` as `schema` (a class) dumps it.

    A job read by its key is the request answered most often. Rendered in the query it
    costs one text column read and nothing else: no instance to make, no times to parse
    and format again, no dict to encode. A test keeps the two renderings equal. They can
    differ in how the same values are written: SQLite writes non-ASCII characters as
    they are rather than as \\u escapes, and a float that needs 17 digits in exponent
    form (quote() writes the exact value where SQLite's JSON would round it to 15).
    """
    columns = model._meta.columns
    parts = []
    for name, field in schema().fields.items():
        column = columns[field.attribute or name].column_name
        parts.append(f"'{name}', {_value(field, column)}")
    return f"json_object({', '.join(parts)})"


def _value(field, column):
    if isinstance(field, UTCDateTime):
        # Stored as datetime.isoformat(" ") in UTC, microseconds only when not zero; cut
        # to milliseconds as timeutil.isoformat cuts them: 2024-01-15T06:00:00.000Z.
        return (f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || '.' || "
                f"substr(substr({column}, 21) || '000', 1, 3) || 'Z'")
    if isinstance(field, (ma.fields.Dict, ma.fields.List)):  # a JSON column
        return f"json({column})"
    if isinstance(field, ma.fields.Float):
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE json(quote({column})) END"
    if type(field) in (ma.fields.String, ma.fields.Integer):
        return column
    raise TypeError(f"no SQL rendering for {type(field).__name__} ({column})")
