"""Scheduler lateness: the delay from a slot's time to its task starting, 100 jobs due
every second (`* * * * * *`, six fields with seconds last), the schedules engine vs
APScheduler 3 (CronTrigger(second='*')), one after the other, each in its own process.

The engine's slot times come from its run records (job_runs.scheduled_for by run id);
APScheduler's from its EVENT_JOB_SUBMITTED events, paired in order per job with the task
starts (coalescing, one instance per job: a job's runs never overlap). APScheduler runs
every slot however late (misfire_grace_time=None), as the engine does.

Usage (one side, prints JSON): python -m bench.sched_lateness SIDE COUNT SECONDS SETTLE DIRECTORY
"""

import collections
import json
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

from . import schedulers

EXPRESSION = "* * * * * *"


def _summary(jobs, delays, expected, missed, skipped):
    delays = sorted(delays)

    def pick(p):
        return delays[min(len(delays) - 1, round(p / 100 * (len(delays) - 1)))] * 1000

    return {
        "jobs": jobs, "runs": len(delays), "expected": expected, "missed": missed,
        "skipped": skipped,
        "p50_ms": pick(50) if delays else None, "p99_ms": pick(99) if delays else None,
        "max_ms": delays[-1] * 1000 if delays else None,
        "mean_ms": sum(delays) / len(delays) * 1000 if delays else None,
    }


def _window(settle, seconds):
    """Whole-second slots from `settle` seconds on, `seconds` of them: [first, end)."""
    first = int(time.time() + settle) + 1
    return first, first + int(seconds)


def measure_engine(directory, count, seconds, settle):
    started = []  # (run id, time.time() at task start)

    def task(context):
        started.append((context.run_id, time.time()))

    engine = schedulers.Engine(directory, count, EXPRESSION, task)
    engine.start()
    try:
        first, end = _window(settle, seconds)
        schedulers.wait_until(end + 2)
    finally:
        engine.stop()
    start_of = dict(started)
    delays, missed, skipped = [], 0, 0
    for run_id, slot, result in engine.runs():
        if not first <= slot < end:
            continue
        if result == "missed":
            missed += 1
        elif result == "skipped":
            skipped += 1
        elif run_id in start_of:
            delays.append(start_of[run_id] - slot)
    return _summary(count, delays, count * (end - first), missed, skipped)


def measure_apscheduler(directory, count, seconds, settle):
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED

    lock = threading.Lock()
    starts = collections.defaultdict(list)  # job id -> time.time() at each task start
    slots = collections.defaultdict(list)  # job id -> slot of each submission
    counts = collections.Counter()

    def task(job_id):
        now = time.time()
        with lock:
            starts[job_id].append(now)

    def listener(event):
        with lock:
            if event.code == EVENT_JOB_SUBMITTED:
                slots[event.job_id].append(event.scheduled_run_times[-1].timestamp())
            else:
                counts[event.code] += 1

    aps = schedulers.APScheduler(directory, count, EXPRESSION, task,
                                 job_defaults={"misfire_grace_time": None, "coalesce": True,
                                               "max_instances": 1})
    aps.scheduler.add_listener(listener,
                               EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    aps.start()
    try:
        first, end = _window(settle, seconds)
        schedulers.wait_until(end + 2)
    finally:
        aps.stop()
    delays = [start - slot for job_id in slots
              for slot, start in zip(slots[job_id], starts[job_id]) if first <= slot < end]
    return _summary(count, delays, count * (end - first), counts[EVENT_JOB_MISSED],
                    counts[EVENT_JOB_MAX_INSTANCES])


SIDES = {"engine": measure_engine, "apscheduler": measure_apscheduler}


def run(directory, count, seconds, settle):
    """One side after the other, each in a fresh process."""
    results = {}
    for side in SIDES:
        side_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"lateness-{side}-", dir=directory))
        out = subprocess.run(
            [sys.executable, "-m", "bench.sched_lateness", side, str(count), str(seconds),
             str(settle), str(side_dir)],
            stdout=subprocess.PIPE, text=True, check=True,
        ).stdout
        results[side] = json.loads(out.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    side, count, seconds, settle, directory = sys.argv[1:6]
    print(json.dumps(SIDES[side](pathlib.Path(directory), int(count), float(seconds),
                                 float(settle))))
