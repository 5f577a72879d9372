"""Worker throughput on PostgreSQL: the service's HTTP workers beside Procrastinate's worker,
each on a database of its own on the same server.

Both sides measured as bench/workers.py measures the service and huey: COUNT no-op jobs
deferred first (not timed), then the time from starting the workers until the last job
is done.
- service: `python app.py` on PostgreSQL; WORKERS threads claim 10 at a time and complete
  each (bench/workers.py's run_service, claim latency included).
- Procrastinate: an App on a PsycopgConnector, its schema applied, COUNT jobs of an async
  no-op task deferred in batches (`batch_defer_async`), then one worker with
  concurrency=WORKERS and wait=False (it returns once the queue is empty and the running
  jobs are done), in a process of its own; every job must be `succeeded`.

Usage (Procrastinate alone, prints JSON): python -m bench.pgworkers COUNT WORKERS URL
"""

import asyncio
import json
import subprocess
import sys
import time

from . import common, workers

BATCH = 1000


async def _procrastinate(url, count, concurrency):
    import procrastinate

    # A pool with a connection per concurrent job, plus the worker's listener and its own.
    size = concurrency + 2
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=url, min_size=size, max_size=size))

    @app.task(name="noop")
    async def noop(n):
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            await noop.batch_defer_async(*({"n": n} for n in range(first, min(first + BATCH,
                                                                               count))))
        enqueue = time.perf_counter() - started
        started = time.perf_counter()
        await app.run_worker_async(concurrency=concurrency, wait=False,
                                   install_signal_handlers=False)
        seconds = time.perf_counter() - started
    return enqueue, seconds


def measure_procrastinate(url, count, concurrency):
    """Defer `count` no-op jobs, then time one worker until all are done."""
    import psycopg
    import procrastinate

    enqueue, seconds = asyncio.run(_procrastinate(url, count, concurrency))
    with psycopg.connect(url) as connection:
        statuses = dict(connection.execute(
            "SELECT status, count(*) FROM procrastinate_jobs GROUP BY status").fetchall())
    if statuses != {"succeeded": count}:
        raise RuntimeError(f"Procrastinate did not run every job once: {statuses}")
    return {"jobs": count, "concurrency": concurrency, "version": procrastinate.__version__,
            "enqueue_jobs_per_s": count / enqueue, "seconds": seconds,
            "jobs_per_s": count / seconds}


def run_procrastinate(url, count, concurrency):
    # Through main(), not `-m`: Procrastinate wants its App outside the __main__ module.
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from bench import pgworkers; pgworkers.main()",
         str(count), str(concurrency), url],
        cwd=common.ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(directory, cluster, env, count, threads, samples, other_samples):
    """The service, then Procrastinate, one after the other on the same server."""
    directory = directory / "pg-workers"
    directory.mkdir(parents=True, exist_ok=True)
    service = workers.run_service(directory, count, threads, samples, other_samples,
                                  database=cluster.create_database("jobsapi_workers"), env=env)
    reference = run_procrastinate(cluster.create_database("procrastinate"), count, threads)
    return {"service": service, "procrastinate": reference}


def main():
    count, concurrency, url = sys.argv[1:4]
    print(json.dumps(measure_procrastinate(url, int(count), int(concurrency))))


if __name__ == "__main__":
    main()
