"""Scheduler idle cost: CPU time used over a window by a process holding 1,000 cron jobs,
none due (`0 0 1 1 *`): the schedules engine vs APScheduler 3, side by side.

Usage (one side, prints JSON): python -m bench.sched_idle SIDE COUNT SECONDS SETTLE DIRECTORY
"""

import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from . import schedulers

EXPRESSION = "0 0 1 1 *"
SIDES = {"engine": schedulers.Engine, "apscheduler": schedulers.APScheduler}


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(side, directory, count, seconds, settle):
    scheduler = SIDES[side](directory, count, EXPRESSION)
    scheduler.start()
    try:
        time.sleep(settle)  # start-up work (registering, first pass) is not idle time
        cpu, wall = _cpu(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = _cpu() - cpu, time.monotonic() - wall
        threads = schedulers.thread_count()
    finally:
        scheduler.stop()
    return {"cpu_s": cpu, "window_s": wall, "core_share": cpu / wall, "threads": threads,
            "jobs": count}


def run(directory, count, seconds, settle):
    """Both sides at once, each in a fresh process (idle, they do not compete)."""
    processes = {}
    for side in SIDES:
        side_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"idle-{side}-", dir=directory))
        processes[side] = subprocess.Popen(
            [sys.executable, "-m", "bench.sched_idle", side, str(count), str(seconds),
             str(settle), str(side_dir)],
            stdout=subprocess.PIPE, text=True,
        )
    results = {}
    for side, process in processes.items():
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"idle benchmark of {side} failed ({process.returncode})")
        results[side] = json.loads(out.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    side, count, seconds, settle, directory = sys.argv[1:6]
    print(json.dumps(measure(side, pathlib.Path(directory), int(count), float(seconds),
                             float(settle))))
