"""Scheduler idle cost: CPU time used over a window by a process holding 1,000 cron jobs,
none due (`0 0 1 1 *`): the schedules engine vs APScheduler 3, side by side.

The figure is the CPU of the scheduler's threads (per-thread CPU clocks) and their
wake-ups (context switches); the measuring thread, which only sleeps, is left out. The
whole process's CPU (getrusage) is kept beside it: at these levels it is mostly that
thread's own noise.

Usage (one side, prints JSON): python -m bench.sched_idle SIDE COUNT SECONDS SETTLE DIRECTORY
"""

import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import threading
import time

from . import schedulers

EXPRESSION = "0 0 1 1 *"
SIDES = {"engine": schedulers.Engine, "apscheduler": schedulers.APScheduler}


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _scheduler_threads():
    """Every thread but this one (which only sleeps, the same on both sides)."""
    return [thread for thread in threading.enumerate() if thread is not threading.current_thread()]


def _threads_cpu(threads):
    """CPU seconds and context switches (each a wake-up) of `threads` so far."""
    cpu = switches = 0
    for thread in threads:
        cpu += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        with open(f"/proc/self/task/{thread.native_id}/status") as status:
            switches += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
    return cpu, switches


def measure(side, directory, count, seconds, settle):
    scheduler = SIDES[side](directory, count, EXPRESSION)
    scheduler.start()
    try:
        time.sleep(settle)  # start-up work (registering, first pass) is not idle time
        threads = _scheduler_threads()
        threads_cpu, switches = _threads_cpu(threads)
        process_cpu, wall = _cpu(), time.monotonic()
        time.sleep(seconds)
        process_cpu, wall = _cpu() - process_cpu, time.monotonic() - wall
        threads_after, switches_after = _threads_cpu(threads)
        # A thread started in the window (a pool's first worker) counts whole.
        born_cpu, born_switches = _threads_cpu(
            [thread for thread in _scheduler_threads() if thread not in threads])
        cpu = threads_after - threads_cpu + born_cpu
        wakeups = switches_after - switches + born_switches
        thread_count = schedulers.thread_count()
    finally:
        scheduler.stop()
    return {"cpu_s": cpu, "window_s": wall, "core_share": cpu / wall, "wakeups": wakeups,
            "process_cpu_s": process_cpu, "threads": thread_count, "jobs": count}


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
