"""Cron maths in a time zone: DST days the way classic cron handles them, and seconds."""

import datetime as dt

import pytest

from schedules import cron

utc = dt.datetime  # naive datetimes below are UTC
SECOND, MINUTE, DAY = dt.timedelta(seconds=1), dt.timedelta(minutes=1), dt.timedelta(days=1)
T0 = dt.datetime(2024, 5, 1, 10, 0)


def fires(expression, start, end, tz):
    """Every fire time in (start, end], by repeated next_fire (naive UTC)."""
    times, current = [], start
    while (current := cron.next_fire(expression, current, cron.zone(tz))) <= end:
        times.append(current)
    return times


@pytest.mark.parametrize("expression, tz, start, end, expected", [
    # New York falls back on 2024-11-03: 01:30 EDT (05:30Z) fires, 01:30 EST (06:30Z) does not
    ("30 1 * * *", "America/New_York", utc(2024, 11, 2, 4), utc(2024, 11, 5, 5),
     [utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]),
    # New York springs forward on 2024-03-10 at 02:00 EST (07:00Z); 01:30 EST still exists
    ("30 1 * * *", "America/New_York", utc(2024, 3, 9, 5), utc(2024, 3, 12, 4),
     [utc(2024, 3, 9, 6, 30), utc(2024, 3, 10, 6, 30), utc(2024, 3, 11, 5, 30)]),
    # Berlin falls back on 2024-10-27: 02:30 CEST (00:30Z) fires, 02:30 CET (01:30Z) does not
    ("30 2 * * *", "Europe/Berlin", utc(2024, 10, 25, 22), utc(2024, 10, 28, 23),
     [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]),
])
def test_a_daily_job_fires_once_on_dst_days(expression, tz, start, end, expected):
    assert fires(expression, start, end, tz) == expected


@pytest.mark.parametrize("tz, day_start, day_end, jump", [
    ("America/New_York", utc(2024, 3, 10, 5), utc(2024, 3, 11, 4), utc(2024, 3, 10, 7)),
    ("Europe/Berlin", utc(2024, 3, 30, 23), utc(2024, 3, 31, 22), utc(2024, 3, 31, 1)),
])
def test_a_wall_time_skipped_by_spring_forward_fires_once_after_the_jump(
        tz, day_start, day_end, jump):
    [fire] = fires("30 2 * * *", day_start, day_end, tz)
    assert jump <= fire <= jump + 30 * MINUTE


def test_an_interval_job_keeps_firing_through_the_repeated_hour():
    # Classic cron runs wildcard-hour jobs in the repeated hour; only fixed times run once.
    expected = [utc(2024, 11, 3, 4, 30) + n * 30 * MINUTE for n in range(8)]
    assert fires("*/30 * * * *", utc(2024, 11, 3, 4), utc(2024, 11, 3, 8),
                 "America/New_York") == expected


def test_six_field_expressions_have_seconds_last():
    assert cron.next_fire("* * * * * */15", T0 + 5 * SECOND) == T0 + 15 * SECOND
    assert cron.next_fire("0 10 * * * 30", T0) == T0 + 30 * SECOND
    assert cron.next_fire("0 10 * * * 30", T0 + 30 * SECOND) == T0 + DAY + 30 * SECOND
