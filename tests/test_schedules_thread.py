"""The real loop thread and worker pool: runs happen on time, and stop() interrupts the rest."""

import datetime as dt
import threading
import time

from schedules import Registry, Scheduler
from schedules.models import JobRun

from conftest import wait_for


def test_the_loop_thread_runs_a_task_every_second(engine_db):
    registry = Registry()

    started = {}  # run id: wall time the task started

    @registry.task("pulse", name="Pulse", schedule="* * * * * *")
    def pulse(context):
        started[context.run_id] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        time.sleep(0.05)
        return "beat"

    def successes():
        return list(JobRun.select().where((JobRun.job == "pulse") & (JobRun.result == "success")))

    scheduler = Scheduler(registry).configure(engine_db, lease=2, threads=2)
    scheduler.start()
    try:
        assert wait_for(lambda: len(successes()) >= 2, timeout=10)
        assert scheduler.alive
    finally:
        scheduler.stop(grace=5)
    assert not scheduler.alive
    done = successes()
    assert len({run.scheduled_for for run in done}) == len(done)
    for run in done:
        assert (run.triggered_by, run.details) == ("scheduler", "beat")
        assert 50 <= run.duration_ms < 1000  # milliseconds
        assert run.started_at <= run.completed_at
        # claimed just ahead of its slot (or at once, when the loop wakes late), started
        # at the slot's time: never before it
        assert run.scheduled_for <= run.started_at <= started[run.id] < run.completed_at
    assert JobRun.select().where(JobRun.result == "running").count() == 0


def test_stop_interrupts_a_task_still_running_after_the_grace(engine_db):
    registry = Registry()
    started, release = threading.Event(), threading.Event()
    contexts, threads = [], []

    @registry.task("hang", name="Hang", schedule="0 0 1 1 *")
    def hang(context):
        contexts.append(context)
        threads.append(threading.current_thread())
        started.set()
        release.wait(10)  # set only after stop() has given up on it
        return "finished late"

    scheduler = Scheduler(registry).configure(engine_db, shutdown_grace=30)
    scheduler.sync()
    try:
        run = scheduler.trigger("hang", "user:1")
        assert started.wait(5)
        assert not contexts[0].stopping
        begun = time.monotonic()
        scheduler.stop(grace=0.5)
        elapsed = time.monotonic() - begun
        assert contexts[0].stop_event.is_set() and contexts[0].stopping
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=5)
    assert 0.4 <= elapsed < 5  # the grace given, not the 30 s default
    stored = JobRun.get_by_id(run.id)
    # the task finishing after the grace does not overwrite the interruption
    assert (stored.result, stored.triggered_by) == ("interrupted", "user:1")
    assert "stopped" in stored.details and stored.completed_at is not None
