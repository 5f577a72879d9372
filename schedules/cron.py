"""Cron maths: the next fire time in a time zone, the way classic cron handles DST."""

import datetime as dt
import zoneinfo

from croniter import CroniterBadDateError, croniter

UTC = dt.timezone.utc


class InvalidSchedule(ValueError):
    """Not a cron expression this engine accepts."""


def validate_schedule(expression):
    """Accept five fields (minute precision) or six (a trailing seconds field)."""
    if not isinstance(expression, str) or len(expression.split()) not in (5, 6):
        raise InvalidSchedule("Use a cron expression of 5 fields (or 6 with seconds last).")
    if not croniter.is_valid(expression):
        raise InvalidSchedule(f"Invalid cron expression: {expression}")
    try:  # valid syntax can still name a time that never comes (0 0 31 2 *)
        croniter(expression, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except (CroniterBadDateError, ValueError, KeyError):
        raise InvalidSchedule(f"Cron expression never fires: {expression}") from None
    return expression


def zone(name):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {name}") from None


def next_fire(expression, after, tz=UTC):
    """The first fire time strictly after `after` (naive UTC), as naive UTC.

    The expression is read as wall-clock time in `tz`. A wall time that occurs twice
    (DST fall-back) fires once, at its first occurrence; one that does not exist
    (spring-forward) fires once, just after the jump.
    """
    local = after.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    wall_times = croniter(expression, local)
    while True:
        wall = wall_times.get_next(dt.datetime)
        fire = wall.replace(tzinfo=tz, fold=0).astimezone(UTC).replace(tzinfo=None)
        if fire > after:
            return fire


def fires_between(expression, start, end, tz=UTC, limit=None):
    """Fire times in (start, end], oldest first (at most `limit` of them)."""
    times, current = [], start
    while limit is None or len(times) < limit:
        current = next_fire(expression, current, tz)
        if current > end:
            break
        times.append(current)
    return times


def previous_fire(expression, at, tz=UTC):
    """The latest fire time at or before `at` (naive UTC), as naive UTC."""
    local = (at + dt.timedelta(seconds=1)).replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    wall_times = croniter(expression, local)
    while True:
        wall = wall_times.get_prev(dt.datetime)
        fire = wall.replace(tzinfo=tz, fold=0).astimezone(UTC).replace(tzinfo=None)
        if fire <= at:
            return fire
