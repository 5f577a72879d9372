"""A cron expression in words, for the common shapes ("every 6 hours", "daily at 03:00");
any other shape is shown as the expression itself."""

import datetime as dt

from schedules.cron import fires_between, zone

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _every(amount, unit):
    return f"every {unit}" if amount == 1 else f"every {amount} {unit}s"


def _step(field):
    """N for '*' (1) or '*/N'; None for anything else."""
    if field == "*":
        return 1
    if field.startswith("*/") and field[2:].isdigit():
        return int(field[2:])
    return None


def describe(expression):
    """The expression in words, or "cron: <expression>" when it has no simple reading."""
    fields = expression.split()
    if len(fields) == 6:  # seconds last
        *fields, second = fields
        if _step(second) and fields == ["*"] * 5:
            return _every(_step(second), "second")
        if second != "0":
            return f"cron: {expression}"
    minute, hour, day, month, weekday = fields
    if (month, day, weekday) == ("*", "*", "*"):
        if _step(minute) and hour == "*":
            return _every(_step(minute), "minute")
        if minute.isdigit() and _step(hour):
            words = _every(_step(hour), "hour")
            return words + (f" at minute {int(minute)}" if int(minute) else "")
        if minute.isdigit() and hour.isdigit():
            return f"daily at {int(hour):02d}:{int(minute):02d}"
    if minute.isdigit() and hour.isdigit() and month == "*":
        at = f"{int(hour):02d}:{int(minute):02d}"
        if day == "*" and weekday.isdigit() and int(weekday) <= 7:
            return f"every {DAYS[int(weekday) % 7]} at {at}"
        if day.isdigit() and weekday == "*":
            return f"monthly on day {int(day)} at {at}"
    return f"cron: {expression}"


def next_fires(expression, timezone, now, count=5):
    """The next `count` fire times after `now` (naive UTC)."""
    return fires_between(expression, now, now + dt.timedelta(days=3660), tz=zone(timezone),
                         limit=count)
