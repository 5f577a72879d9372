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


def _repeats_in_fold(expression):
    """Classic cron runs jobs with a wildcard hour in both passes of a repeated hour."""
    return expression.split()[1].startswith("*")


def _instants(wall, tz, both):
    """The UTC instants a wall time stands for: its first occurrence, and with `both`
    also its second one (they differ only in the hour a fall-back repeats)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC).replace(tzinfo=None)
    if not both:
        return (first,)
    return first, wall.replace(tzinfo=tz, fold=1).astimezone(UTC).replace(tzinfo=None)


def _fold_length(wall, tz):
    """How much a fall-back repeats around this wall time (zero outside a repeated hour)."""
    return wall.replace(tzinfo=tz, fold=0).utcoffset() - wall.replace(tzinfo=tz, fold=1).utcoffset()


def next_fire(expression, after, tz=UTC):
    """The first fire time strictly after `after` (naive UTC), as naive UTC.

    The expression is read as wall-clock time in `tz`, the way classic cron does: a
    fixed time that a DST fall-back repeats fires once, at its first occurrence; jobs
    with a wildcard hour keep firing through the repeated hour; a time that does not
    exist (spring-forward) fires once, just after the jump.
    """
    both = _repeats_in_fold(expression)
    local = after.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    if both:  # in the first pass of a repeated hour, the second pass starts earlier
        local -= max(_fold_length(local, tz), dt.timedelta(0))
    wall_times = croniter(expression, local)
    best = None
    while True:
        wall = wall_times.get_next(dt.datetime)
        instants = _instants(wall, tz, both)
        if best is not None and instants[0] >= best:
            return best
        for instant in instants:
            if instant > after and (best is None or instant < best):
                best = instant
        if best is not None and not both:
            return best


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
    both = _repeats_in_fold(expression)
    local = (at + dt.timedelta(seconds=1)).replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    wall_times = croniter(expression, local)
    while True:
        wall = wall_times.get_prev(dt.datetime)
        due = [instant for instant in _instants(wall, tz, both) if instant <= at]
        if due:
            return max(due)
