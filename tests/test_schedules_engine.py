"""The scheduler engine on an injected clock: registry, claims, skips, misfires, leases, DST."""

import datetime as dt
import threading

import pytest

from schedules import AlreadyRunning, InvalidSchedule, Registry, Scheduler
from schedules.engine import CLAIM_AHEAD
from schedules.models import JobRun, ScheduledJob

from conftest import wait_for

T0 = dt.datetime(2024, 5, 1, 10, 0)
SECOND, MINUTE = dt.timedelta(seconds=1), dt.timedelta(minutes=1)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
HOURLY = "0 * * * *"
utc = dt.datetime  # naive datetimes below are UTC


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def done(context):
    return "done"


@pytest.fixture
def clock():
    return Clock(T0)


def register(defaults):
    """A Registry of `done` tasks from {id: (schedule, enabled)}."""
    registry = Registry()
    for job_id, (schedule, enabled) in defaults.items():
        registry.task(job_id, name=job_id.title(), schedule=schedule, enabled=enabled)(done)
    return registry


@pytest.fixture
def make(engine_db, clock):
    """A Scheduler with one task `report`, synced at the clock's time."""

    def make(schedule=HOURLY, func=done, **knobs):
        registry = Registry()
        registry.task("report", name="Report", schedule=schedule)(func)
        scheduler = Scheduler(registry).configure(engine_db, clock=clock, **knobs)
        scheduler.sync(clock())
        return scheduler

    return make


def runs(job_id="report"):
    query = JobRun.select().where(JobRun.job == job_id).order_by(JobRun.id)
    return [(run.scheduled_for, run.result) for run in query]


def slots(claimed):
    return [(run.job_id, run.scheduled_for) for run in claimed]


def test_registry_rejects_a_duplicate_id():
    registry = register({"report": (HOURLY, True)})
    with pytest.raises(ValueError, match="already registered"):
        registry.task("report", name="Other", schedule="0 0 * * *")(done)
    assert len(registry) == 1 and registry.get("report").name == "Report"


@pytest.mark.parametrize("job_id", ["Report", "daily report", "daily_report", "-report",
                                    "report-", "daily--report", ""])
def test_registry_rejects_an_id_that_is_not_a_slug(job_id):
    registry = Registry()
    with pytest.raises(ValueError, match="slug"):
        registry.task(job_id, name="Report", schedule=HOURLY)(done)
    assert len(registry) == 0


@pytest.mark.parametrize("schedule", ["not a cron", "* * * *", "61 * * * *", "* 25 * * *",
                                      "* * * * * * *", "* * * * * 61", "0 0 31 2 *"])
def test_registry_rejects_an_invalid_cron(schedule):
    registry = Registry()
    with pytest.raises(InvalidSchedule):
        registry.task("report", name="Report", schedule=schedule)(done)
    assert "report" not in registry


def test_a_task_returning_a_string_succeeds_with_those_details(make, clock):
    seen = []

    def report(context):
        seen.append((context.run_id, context.job_id, context.triggered_by, context.stopping))
        return "Sent 3 reports"

    scheduler = make(func=report)
    clock.now = T0 + HOUR
    [run], _ = scheduler.tick(clock.now)
    assert scheduler.execute(run) == "success"
    stored = JobRun.get_by_id(run.id)
    assert (stored.result, stored.details, stored.triggered_by) == (
        "success", "Sent 3 reports", "scheduler")
    assert (stored.scheduled_for, stored.started_at, stored.completed_at) == (T0 + HOUR,) * 3
    assert isinstance(stored.duration_ms, int) and 0 <= stored.duration_ms < 5000
    assert seen == [(run.id, "report", "scheduler", False)]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), SystemExit("disk full")])
def test_a_task_raising_is_an_error_with_its_message(make, clock, error):
    def report(context):
        raise error

    scheduler = make(func=report)
    clock.now = T0 + HOUR
    [run], _ = scheduler.tick(clock.now)
    assert scheduler.execute(run) == "error"
    stored = JobRun.get_by_id(run.id)
    assert (stored.result, "disk full" in stored.details) == ("error", True)
    assert stored.completed_at == T0 + HOUR and isinstance(stored.duration_ms, int)


def test_not_due_claims_nothing_and_a_new_job_does_not_catch_up(make, clock):
    clock.now = T0 + 20 * MINUTE  # the 10:00 slot passed before the job existed
    scheduler = make()
    assert scheduler.tick(clock.now) == ([], T0 + HOUR)
    assert scheduler.tick(T0 + HOUR - SECOND) == ([], T0 + HOUR)
    assert runs() == []


def test_a_due_slot_is_claimed_exactly_once(make):
    scheduler = make()
    claimed, soonest = scheduler.tick(T0 + HOUR)
    assert (slots(claimed), soonest) == ([("report", T0 + HOUR)], T0 + 2 * HOUR)
    assert (claimed[0].result, claimed[0].triggered_by) == ("running", "scheduler")
    assert scheduler.tick(T0 + HOUR) == ([], T0 + 2 * HOUR)
    assert scheduler.tick(T0 + HOUR + 30 * SECOND) == ([], T0 + 2 * HOUR)
    assert runs() == [(T0 + HOUR, "running")]


def test_the_loop_claims_a_slot_just_ahead_of_its_time_and_starts_it_at_the_time(make, clock):
    scheduler = make()
    try:
        clock.now = T0 + HOUR - 3 * CLAIM_AHEAD / 2
        assert scheduler._pass() == pytest.approx((CLAIM_AHEAD / 2).total_seconds())
        assert runs() == []
        clock.now = T0 + HOUR - CLAIM_AHEAD / 2
        scheduler._pass()  # claims, waits out the half (real time), then starts the run
        [run] = JobRun.select().where(JobRun.job == "report")
        assert (run.scheduled_for, run.started_at) == (T0 + HOUR, T0 + HOUR)
        assert wait_for(lambda: runs() == [(T0 + HOUR, "success")], timeout=5)
    finally:
        scheduler.stop(grace=5)


def test_a_slot_while_the_previous_run_is_running_is_skipped(make, clock):
    scheduler = make()
    [first], _ = scheduler.tick(T0 + HOUR)
    assert scheduler.tick(T0 + 2 * HOUR) == ([], T0 + 3 * HOUR)
    assert runs() == [(T0 + HOUR, "running"), (T0 + 2 * HOUR, "skipped")]
    assert "running" in JobRun.get(JobRun.result == "skipped").details.lower()
    clock.now = T0 + 2 * HOUR + MINUTE
    assert scheduler.execute(first) == "success"
    assert slots(scheduler.tick(T0 + 3 * HOUR)[0]) == [("report", T0 + 3 * HOUR)]


def test_downtime_within_the_grace_runs_the_missed_slot_once(make):
    scheduler = make(misfire_grace=3600)
    claimed, soonest = scheduler.tick(T0 + HOUR + 30 * MINUTE)
    assert (slots(claimed), soonest) == ([("report", T0 + HOUR)], T0 + 2 * HOUR)
    assert runs() == [(T0 + HOUR, "running")]


@pytest.mark.parametrize("schedule, grace, now, first, count, following", [
    # daily at 03:00, down 3 days, the latest slot 10 h old (grace 1 h)
    ("0 3 * * *", 3600, T0 + 3 * DAY + 3 * HOUR, utc(2024, 5, 2, 3), 3, utc(2024, 5, 5, 3)),
    # hourly, down 3 days, the latest slot 30 min old (grace 10 min)
    (HOURLY, 600, T0 + 3 * DAY + 30 * MINUTE, T0 + HOUR, 72, T0 + 3 * DAY + HOUR),
])
def test_downtime_beyond_the_grace_records_missed_and_no_burst(
        make, schedule, grace, now, first, count, following):
    scheduler = make(schedule=schedule, misfire_grace=grace)
    assert scheduler.tick(now) == ([], following)
    assert runs() == [(first, "missed")]
    missed = JobRun.get(JobRun.result == "missed")
    assert f"Missed {count} slots" in missed.details
    assert (missed.triggered_by, missed.completed_at) == ("scheduler", now)
    assert scheduler.tick(now + MINUTE) == ([], following)
    assert slots(scheduler.tick(following)[0]) == [("report", following)]
    assert runs() == [(first, "missed"), (following, "running")]


def test_downtime_with_the_latest_slot_within_the_grace_runs_once_and_records_the_rest(make):
    scheduler = make(misfire_grace=3600)
    now = T0 + 3 * DAY + 30 * MINUTE  # hourly: 72 slots passed, the last 30 min ago
    claimed, soonest = scheduler.tick(now)
    assert (slots(claimed), soonest) == ([("report", T0 + 3 * DAY)], T0 + 3 * DAY + HOUR)
    assert runs() == [(T0 + HOUR, "missed"), (T0 + 3 * DAY, "running")]
    assert "Missed 71 slots" in JobRun.get(JobRun.result == "missed").details
    assert scheduler.tick(now) == ([], T0 + 3 * DAY + HOUR)


PAUSES = {
    "disabled": (lambda s, now: s.update("report", enabled=False, now=now),
                 lambda s, now: s.update("report", enabled=True, now=now)),
    "stopped": (lambda s, now: s.set_stopped("report", True, now=now),
                lambda s, now: s.set_stopped("report", False, now=now)),
}


@pytest.mark.parametrize("how", sorted(PAUSES))
def test_a_paused_job_never_claims_and_resuming_does_not_catch_up(make, how):
    pause, resume = PAUSES[how]
    scheduler = make()
    pause(scheduler, T0 + 10 * MINUTE)
    for hours in range(1, 6):
        assert scheduler.tick(T0 + hours * HOUR) == ([], None)
    assert scheduler.next_run(ScheduledJob.get_by_id("report"), T0 + 5 * HOUR) is None
    resume(scheduler, T0 + 5 * HOUR + 10 * MINUTE)
    assert scheduler.tick(T0 + 5 * HOUR + 10 * MINUTE) == ([], T0 + 6 * HOUR)
    assert slots(scheduler.tick(T0 + 6 * HOUR)[0]) == [("report", T0 + 6 * HOUR)]
    assert runs() == [(T0 + 6 * HOUR, "running")]


def test_changing_the_schedule_changes_the_next_fire(make):
    scheduler = make()
    scheduler.update("report", schedule="*/15 * * * *", now=T0 + 5 * MINUTE)
    assert scheduler.next_run(ScheduledJob.get_by_id("report")) == T0 + 15 * MINUTE
    assert scheduler.tick(T0 + 5 * MINUTE) == ([], T0 + 15 * MINUTE)
    claimed, soonest = scheduler.tick(T0 + 15 * MINUTE)
    assert (slots(claimed), soonest) == ([("report", T0 + 15 * MINUTE)], T0 + 30 * MINUTE)
    with pytest.raises(InvalidSchedule):
        scheduler.update("report", schedule="every day", now=T0 + 16 * MINUTE)
    assert ScheduledJob.get_by_id("report").schedule == "*/15 * * * *"


def test_an_admin_change_racing_a_claim_does_not_wedge_the_job(make):
    # The API reads the clock before it gets the write lock; a claim may commit in between.
    scheduler = make()
    [run], _ = scheduler.tick(T0 + HOUR)
    scheduler.execute(run)
    scheduler.update("report", enabled=True, now=T0 + HOUR - SECOND)
    scheduler.tick(T0 + HOUR + MINUTE)
    assert slots(scheduler.tick(T0 + 2 * HOUR)[0]) == [("report", T0 + 2 * HOUR)]


def test_admin_changes_survive_resync_and_a_new_registration(engine_db, clock):
    scheduler = Scheduler(register({"alpha": (HOURLY, True), "beta": (HOURLY, True),
                                    "gamma": (HOURLY, True), "delta": (HOURLY, False)}))
    scheduler.configure(engine_db, clock=clock).sync(T0)
    scheduler.update("alpha", enabled=False, now=T0)
    scheduler.update("beta", schedule="*/10 * * * *", now=T0)
    scheduler.set_stopped("gamma", True, now=T0)
    scheduler.update("delta", enabled=True, now=T0)
    scheduler.sync(T0 + MINUTE)
    # a restart whose code registers the same tasks with other defaults
    every5 = "*/5 * * * *"
    restarted = Scheduler(register({"alpha": (every5, True), "beta": ("0 0 * * *", True),
                                    "gamma": (every5, True), "delta": (every5, False)}))
    restarted.configure(engine_db, clock=clock).sync(T0 + 2 * MINUTE)
    stored = {row.id: (row.enabled, row.stopped, row.schedule) for row in ScheduledJob.select()}
    assert stored == {"alpha": (False, False, None), "beta": (None, False, "*/10 * * * *"),
                      "gamma": (None, True, None), "delta": (True, False, None)}
    claimed, _ = restarted.tick(T0 + 10 * MINUTE)
    assert sorted(slots(claimed)) == [("beta", T0 + 10 * MINUTE), ("delta", T0 + 10 * MINUTE)]


def test_trigger_while_a_run_is_active_raises_already_running(make):
    scheduler = make()
    scheduler.tick(T0 + HOUR)
    with pytest.raises(AlreadyRunning):
        scheduler.trigger("report", "user:7", T0 + HOUR + MINUTE)
    assert runs() == [(T0 + HOUR, "running")]


def test_a_manual_trigger_does_not_move_the_next_slot(make, clock):
    started = threading.Event()

    def report(context):
        started.set()
        return "manual"

    scheduler = make(func=report)
    clock.now = T0 + 30 * MINUTE
    assert scheduler.next_run(ScheduledJob.get_by_id("report")) == T0 + HOUR
    run = scheduler.trigger("report", "user:7", clock.now)
    assert started.wait(5)
    scheduler.stop(grace=5)  # waits for the pool to record the run
    stored = JobRun.get_by_id(run.id)
    assert (stored.result, stored.triggered_by, stored.scheduled_for, stored.details) == (
        "success", "user:7", None, "manual")
    assert scheduler.next_run(ScheduledJob.get_by_id("report")) == T0 + HOUR
    assert slots(scheduler.tick(T0 + HOUR)[0]) == [("report", T0 + HOUR)]


def test_reap_interrupts_a_stale_run_and_the_job_claims_its_next_slot(make):
    scheduler = make(lease=30)
    [run], _ = scheduler.tick(T0 + HOUR)
    scheduler.reap(T0 + HOUR + 30 * SECOND)
    assert runs() == [(T0 + HOUR, "running")]
    scheduler.reap(T0 + HOUR + 31 * SECOND)
    stored = JobRun.get_by_id(run.id)
    assert (stored.result, stored.completed_at) == ("interrupted", T0 + HOUR + 31 * SECOND)
    assert "heartbeat" in stored.details
    assert slots(scheduler.tick(T0 + 2 * HOUR)[0]) == [("report", T0 + 2 * HOUR)]
    assert runs() == [(T0 + HOUR, "interrupted"), (T0 + 2 * HOUR, "running")]


def test_heartbeat_keeps_a_run_alive_past_the_lease(make, engine_db, clock):
    scheduler = make(lease=30)
    scheduler.tick(T0 + HOUR)
    scheduler.heartbeat(T0 + HOUR + 20 * SECOND)
    scheduler.reap(T0 + HOUR + 45 * SECOND)
    assert runs() == [(T0 + HOUR, "running")]
    # another process's heartbeat renews only its own runs
    Scheduler(scheduler.registry).configure(engine_db, lease=30, clock=clock).heartbeat(
        T0 + HOUR + 50 * SECOND)
    scheduler.reap(T0 + HOUR + 51 * SECOND)
    assert runs() == [(T0 + HOUR, "interrupted")]


@pytest.mark.parametrize("start, expected", [
    (utc(2024, 11, 2, 12), [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]),
    (utc(2024, 3, 9, 12), [utc(2024, 3, 10, 6, 30), utc(2024, 3, 11, 5, 30)]),
])
def test_the_engine_runs_a_daily_job_once_across_a_dst_day(engine_db, clock, start, expected):
    clock.now = start
    scheduler = Scheduler(register({"report": ("30 1 * * *", True)}))
    scheduler.configure(engine_db, timezone="America/New_York", clock=clock).sync(start)
    while clock.now < start + 2 * DAY:
        clock.now += 10 * MINUTE
        for run in scheduler.tick(clock.now)[0]:
            scheduler.execute(run)
    assert runs() == [(slot, "success") for slot in expected]


def test_a_six_field_schedule_fires_every_second(make):
    scheduler = make(schedule="* * * * * *")
    assert scheduler.tick(T0) == ([], T0 + SECOND)
    claimed, soonest = scheduler.tick(T0 + SECOND)
    assert (slots(claimed), soonest) == ([("report", T0 + SECOND)], T0 + 2 * SECOND)


def test_a_runs_duration_is_its_completed_minus_started_time_as_shown(make, clock):
    """The API shows times cut to the millisecond (...415Z, ...424Z): the duration is their
    difference, even when the task takes no measurable time of its own."""
    def report(context):
        clock.now = T0 + dt.timedelta(microseconds=424_200)
        return "done"

    scheduler = make(func=report)
    run = scheduler.trigger("report", "user:1", now=T0 + dt.timedelta(microseconds=415_900))
    assert wait_for(lambda: JobRun.get_by_id(run.id).result != "running", timeout=10)
    stored = JobRun.get_by_id(run.id)
    assert stored.completed_at == T0 + dt.timedelta(microseconds=424_200)
    assert stored.duration_ms == 424 - 415


def test_a_run_claimed_ahead_counts_its_duration_from_its_slot(make, clock):
    def report(context):
        clock.now = T0 + HOUR + dt.timedelta(milliseconds=3)
        return "done"

    scheduler = make(func=report)
    clock.now = T0 + HOUR - CLAIM_AHEAD
    [run], _ = scheduler.tick(T0 + HOUR)
    assert scheduler.execute(run) == "success"
    stored = JobRun.get_by_id(run.id)
    assert (stored.started_at, stored.completed_at, stored.duration_ms) == (
        T0 + HOUR, T0 + HOUR + dt.timedelta(milliseconds=3), 3)


def test_a_clock_stepped_back_during_a_run_ends_it_at_its_start(make, clock):
    def report(context):
        clock.now = T0 + HOUR - MINUTE
        return "done"

    scheduler = make(func=report)
    [run], _ = scheduler.tick(T0 + HOUR)
    scheduler.execute(run)
    stored = JobRun.get_by_id(run.id)
    assert (stored.started_at, stored.completed_at, stored.duration_ms) == (T0 + HOUR,) * 2 + (0,)


def test_interrupted_and_skipped_runs_have_durations_matching_their_times(make):
    scheduler = make(lease=30)
    [run], _ = scheduler.tick(T0 + HOUR)
    scheduler.tick(T0 + 2 * HOUR)  # skipped: still running
    scheduler.reap(T0 + 2 * HOUR + 500 * dt.timedelta(milliseconds=1))
    for stored in JobRun.select():
        shown = [value.replace(microsecond=value.microsecond // 1000 * 1000)
                 for value in (stored.started_at, stored.completed_at)]
        assert stored.duration_ms == (shown[1] - shown[0]) // dt.timedelta(milliseconds=1)
    assert JobRun.get_by_id(run.id).duration_ms == 3_600_500
