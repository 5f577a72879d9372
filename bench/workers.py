"""Workers: claim-to-complete throughput of HTTP workers beside huey's SQLite consumer, and
how soon a waiting claim gets a job created while it waits.

Throughput, both sides measured the same way: COUNT no-op jobs enqueued first (not
timed), then the time from starting the consumers until the last job is done.
- service: `python app.py` (waitress, SQLite on disk); WORKERS threads in this process,
  each on its own keep-alive connection with an API key, claim 10 jobs at a time and
  complete each one, until all COUNT are PROCESSED.
- huey: SqliteHuey on a file in the same directory, a no-op task, its Consumer with
  WORKERS worker threads (as `huey_consumer -w 4 -k thread`), in a process of its own; the
  last job is done when its SIGNAL_COMPLETE has fired COUNT times. Twice: huey's default
  (SQLite's synchronous=FULL, an fsync per commit) and fsync=False (synchronous=OFF, laxer
  than the service's NORMAL); the faster is the reference.

Claim latency: a claim waits (waitSeconds 20) on the server; a job is created; the figure
is the time from the create's response to the claim's response (0 when the claim's came
first), with the job created on the same server process and on a second one on the same
database file.

Usage (huey alone, prints JSON): python -m bench.workers huey COUNT WORKERS FSYNC DIRECTORY
"""

import http.client
import json
import pathlib
import subprocess
import sys
import threading
import time

from . import common

CLAIM_LIMIT = 10
BATCH = 1000
PARK_SECONDS = 0.05  # time for a claim to find nothing due and wait, before the create
WORKER_PASSWORD = "worker-password-for-bench"


class Connection:
    """A keep-alive HTTP connection sending JSON with one bearer credential."""

    def __init__(self, port, credential):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Content-Type": "application/json",
                        "Authorization": f"Bearer {credential}"}

    def post(self, path, body):
        self.connection.request("POST", path, body=json.dumps(body).encode(),
                                headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def close(self):
        self.connection.close()


def _job(n):
    return {"operation": "noop", "prompts": ["p"], "model": "m", "requestData": {"n": n}}


def _worker_key(port):
    """An API key of a new user with jobs.work, made by the admin."""
    admin, _ = common.login(port, "admin", common.ADMIN_PASSWORD)
    status, user = common.request(port, "POST", "/api/users", {
        "username": "bench-worker", "password": WORKER_PASSWORD,
        "permissions": ["jobs.work"]}, token=admin)
    if status != 201:
        raise RuntimeError(f"creating the worker user failed: {status} {user}")
    status, key = common.request(port, "POST", f"/api/users/{user['id']}/api-keys",
                                 {"name": "bench"}, token=admin)
    if status != 201:
        raise RuntimeError(f"creating an API key failed: {status} {key}")
    return key["key"]


def _enqueue(port, token, count):
    """Create `count` jobs in batches; the seconds it took."""
    client = Connection(port, token)
    started = time.perf_counter()
    try:
        for first in range(0, count, BATCH):
            status, body = client.post("/jobs/batch", {"jobs": [
                _job(n) for n in range(first, min(first + BATCH, count))]})
            if status != 201:
                raise RuntimeError(f"POST /jobs/batch: {status} {body}")
    finally:
        client.close()
    return time.perf_counter() - started


def _consume(port, key, count, workers):
    """WORKERS threads claim and complete until `count` jobs are done: the seconds from
    their start to the last complete's answer, and the requests they made."""
    lock = threading.Lock()
    state = {"done": 0, "claims": 0, "empty": 0, "last": None, "errors": []}
    finished = threading.Event()

    def work(name):
        client = Connection(port, key)
        try:
            while not finished.is_set():
                status, body = client.post("/jobs/claim", {
                    "workerId": name, "limit": CLAIM_LIMIT, "leaseSeconds": 60})
                if status != 200:
                    raise RuntimeError(f"claim: {status} {body}")
                with lock:
                    state["claims"] += 1
                    state["empty"] += not body["jobs"]
                for job in body["jobs"]:
                    status, answer = client.post(f"/jobs/{job['jobId']}/complete",
                                                 {"leaseToken": job["lease"]["token"]})
                    if status != 200:
                        raise RuntimeError(f"complete: {status} {answer}")
                    with lock:
                        state["done"] += 1
                        if state["done"] == count:
                            state["last"] = time.perf_counter()
                            finished.set()
                if not body["jobs"]:
                    time.sleep(0.001)  # the last jobs are held by the other workers
        except Exception as error:
            state["errors"].append(repr(error))
            finished.set()
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(f"bench-{n}",)) for n in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if state["errors"]:
        raise RuntimeError(f"a worker failed: {state['errors'][0]}")
    return {"seconds": state["last"] - started, "claims": state["claims"],
            "empty_claims": state["empty"]}


def _percentiles(values):
    ordered = sorted(values)

    def pick(p):
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {"samples": len(ordered), "p50_ms": pick(50), "p99_ms": pick(99),
            "max_ms": ordered[-1] * 1000}


def _claim_latency(claim_port, create_port, key, token, samples):
    """Per sample: a claim waits on `claim_port`, a job is created on `create_port`; the
    time from the create's answer to the claim's."""
    waiter, creator = Connection(claim_port, key), Connection(create_port, token)
    delays, first = [], 0
    try:
        for n in range(samples):
            answer = {}

            def claim():
                answer["status"], answer["body"] = waiter.post("/jobs/claim", {
                    "workerId": "bench-latency", "limit": 1, "leaseSeconds": 60,
                    "waitSeconds": 20})
                answer["at"] = time.perf_counter()

            thread = threading.Thread(target=claim)
            thread.start()
            time.sleep(PARK_SECONDS)
            status, body = creator.post("/jobs", _job(n))
            created = time.perf_counter()
            if status != 201:
                raise RuntimeError(f"POST /jobs: {status} {body}")
            thread.join(30)
            if answer.get("status") != 200 or [job["jobId"] for job in answer["body"]["jobs"]] \
                    != [body["jobId"]]:
                raise RuntimeError(f"the waiting claim did not get the job: {answer}")
            delays.append(max(0.0, answer["at"] - created))
            first += answer["at"] < created
            status, done = waiter.post(f"/jobs/{body['jobId']}/complete",
                                       {"leaseToken": answer["body"]["jobs"][0]["lease"]["token"]})
            if status != 200:
                raise RuntimeError(f"complete: {status} {done}")
    finally:
        waiter.close()
        creator.close()
    return _percentiles(delays) | {"claim_answered_first": first}


def run_service(directory, count, workers, samples, other_samples, database=None, env=None):
    """Throughput and claim latency through the service on `database` (a SQLite file in
    `directory` unless given), its servers started with `env` added."""
    database = database or directory / "workers.db"
    first = common.service(directory / "first", database, **(env or {}))
    second = common.service(directory / "second", database, **(env or {}))
    with first:
        key = _worker_key(first.port)
        token, _ = common.create_client(first.port, "bench-client")
        enqueue = _enqueue(first.port, token, count)
        consumed = _consume(first.port, key, count, workers)
        status, summary = common.request(first.port, "GET", "/jobs/summary", token=token)
        if status != 200 or summary["PROCESSED"] != count or summary["total"] != count:
            raise RuntimeError(f"not every job was processed once: {summary}")
        latency = _claim_latency(first.port, first.port, key, token, samples)
        with second:
            other = _claim_latency(first.port, second.port, key, token, other_samples)
    return {"jobs": count, "workers": workers, "claim_limit": CLAIM_LIMIT,
            "enqueue_jobs_per_s": count / enqueue, "seconds": consumed["seconds"],
            "jobs_per_s": count / consumed["seconds"], "claims": consumed["claims"],
            "empty_claims": consumed["empty_claims"],
            "latency": latency, "latency_other_process": other}


def measure_huey(count, workers, fsync, directory):
    """Enqueue `count` no-op tasks, then time huey's consumer until all are done."""
    from huey import SqliteHuey, signals

    huey = SqliteHuey("bench", filename=str(directory / "huey.db"),
                      fsync=None if fsync == "default" else fsync == "on")

    @huey.task()
    def noop(n):
        return None

    lock, finished = threading.Lock(), threading.Event()
    state = {"done": 0, "last": None}

    @huey.signal(signals.SIGNAL_COMPLETE)
    def completed(signal, task, *args):
        with lock:
            state["done"] += 1
            if state["done"] == count:
                state["last"] = time.perf_counter()
                finished.set()

    started = time.perf_counter()
    for n in range(count):
        noop(n)
    enqueue = time.perf_counter() - started
    consumer = huey.create_consumer(workers=workers, worker_type="thread")
    started = time.perf_counter()
    consumer.start()
    try:
        if not finished.wait(600):
            raise RuntimeError(f"huey finished {state['done']} of {count} tasks")
    finally:
        consumer.stop(graceful=True)
    seconds = state["last"] - started
    return {"jobs": count, "workers": workers, "fsync": fsync,
            "enqueue_jobs_per_s": count / enqueue, "seconds": seconds,
            "jobs_per_s": count / seconds}


def run_huey(directory, count, workers, fsync):
    side = directory / f"huey-{fsync}"
    side.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-m", "bench.workers", "huey", str(count), str(workers), fsync,
         str(side)],
        cwd=common.ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(directory, count, workers, samples, other_samples):
    """The service, then huey with its default and with fsync off, one after the other."""
    directory = pathlib.Path(directory) / "workers"
    directory.mkdir(parents=True, exist_ok=True)
    results = {"service": run_service(directory, count, workers, samples, other_samples)}
    results["huey_default"] = run_huey(directory, count, workers, "default")
    results["huey_fsync_off"] = run_huey(directory, count, workers, "off")
    results["huey"] = max(results["huey_default"], results["huey_fsync_off"],
                          key=lambda side: side["jobs_per_s"])
    return results


if __name__ == "__main__":
    _, count, workers, fsync, directory = sys.argv[1:6]
    print(json.dumps(measure_huey(int(count), int(workers), fsync, pathlib.Path(directory))))
