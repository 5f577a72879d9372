"""UTC time: naive UTC datetimes inside, RFC 3339 with milliseconds and Z outside."""

import datetime as dt


def utcnow():
    """The current time as a naive UTC datetime (how the database stores times)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def isoformat(value):
    """Format a naive UTC datetime as 2024-01-15T06:00:00.000Z (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):  # a raw value read without the model's conversion
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"
