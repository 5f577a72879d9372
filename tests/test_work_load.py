"""The load guarantee: 8 workers claiming from 2 server processes on one SQLite file (3
instances on one PostgreSQL, one of them SIGKILLed mid-run), some workers SIGKILLed or
stopped mid-job; every job ends PROCESSED exactly once, none stuck, no 5xx."""

import collections
import concurrent.futures
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ADMIN_PASSWORD, POSTGRESQL, ROOT, Api, LiveServer, wait_for

pytestmark = pytest.mark.both_backends

JOBS = int(os.environ.get("WORK_LOAD_JOBS", "5000"))
BATCH = 1000
WORKERS = 8
LEASE_SECONDS = 10
KILLS = 3
INSTANCES = 3 if POSTGRESQL else 2  # on PostgreSQL the last one is SIGKILLed mid-run


class Worker:
    """tests/load_worker.py in its own process, logging to `<directory>/<name>.jsonl`."""

    def __init__(self, name, directory, key, servers):
        self.name = name
        self.terminated = False
        self.log_path = directory / f"{name}.jsonl"
        self.stderr_path = directory / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "load_worker.py"), "--key", key,
                 "--worker-id", name, "--log", str(self.log_path),
                 "--lease-seconds", str(LEASE_SECONDS), *servers],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)

    def records(self):
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def held(self):
        """The jobs of its last claim it has not reported yet: [(id, attempt, expiresAt)]."""
        held = {}
        for record in self.records():
            if record["event"] == "claim" and record["jobs"]:
                held = {job: (job, attempt, expires)
                        for job, attempt, _, expires in record["jobs"]}
            elif record["event"] == "complete":
                held.pop(record["job"], None)
        return list(held.values())

    def signal(self, number):
        self.process.send_signal(number)

    def terminate(self):
        """SIGTERM, once (a second one could land while Python exits, with the default
        handler back): it stops after logging the answers to the requests it made."""
        if not self.terminated and self.process.poll() is None:
            self.process.terminate()
        self.terminated = True

    def stop(self):
        """Terminate and wait: its exit status."""
        self.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _parse(timestamp):
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _worker_user(admin):
    """A user with jobs.work and an API key of its own: the workers' credentials."""
    response = admin.post("/api/users", json={"username": "load-worker", "password":
                                              "load-worker-password",
                                              "permissions": ["jobs.work"]})
    assert response.status_code == 201, response.text
    response = admin.post(f"/api/users/{response.json()['id']}/api-keys", json={"name": "load"})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def _create_jobs(apis):
    ids = []
    for number in range(0, JOBS, BATCH):
        api = apis[number // BATCH % len(apis)]
        response = api.post("/jobs/batch", json={"jobs": [
            {"operation": "load", "prompts": ["p"], "model": "m", "requestData": {"n": n}}
            for n in range(number, min(number + BATCH, JOBS))]})
        assert response.status_code == 201, response.text[:500]
        ids += [job["jobId"] for job in response.json()]
    return ids


def _processed(api, workers):
    """How many jobs are PROCESSED; first, that no worker died on its own."""
    for worker in workers:
        assert worker.process.poll() is None, (worker.name, worker.stderr_path.read_text())
    response = api.get("/jobs/summary")
    assert response.status_code == 200, response.text
    return response.json()["PROCESSED"]


def _attempts(apis, job_ids):
    """Every job's attempts, fetched over both servers, a session per thread."""

    def fetch(part):
        server, ids = part
        api = Api(server)
        api.session.headers["Authorization"] = apis[0].session.headers["Authorization"]
        found = {}
        for job_id in ids:
            response = api.get(f"/jobs/{job_id}/attempts")
            assert response.status_code == 200, response.text
            found[job_id] = response.json()
        return found

    parts = [(apis[n % len(apis)].server, job_ids[n::4]) for n in range(4)]
    with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
        return {job: found for part in pool.map(fetch, parts) for job, found in part.items()}


def _when_holding(worker, timeout=10):
    """Wait until `worker` holds jobs it has not reported; True if it does."""
    return bool(wait_for(worker.held, timeout))


def test_every_job_is_processed_exactly_once_while_workers_die(tmp_path):
    started = time.monotonic()
    for number in range(INSTANCES):
        (tmp_path / f"instance-{number}").mkdir()
    first = LiveServer(tmp_path / "instance-0")
    servers = [first] + [LiveServer(tmp_path / f"instance-{number}",
                                    JOBSAPI_DATABASE=first.env["JOBSAPI_DATABASE"])
                         for number in range(1, INSTANCES)]
    second = servers[1]
    doomed, killed_at = (servers[2] if INSTANCES == 3 else None), None
    logs = tmp_path / "workers"
    logs.mkdir()
    workers, killed = [], []
    running = []  # the workers that should be running
    try:
        for server in servers:
            server.start(timeout=60)
        apis = [Api(first, "admin", ADMIN_PASSWORD), Api(second, "admin", ADMIN_PASSWORD)]
        key = _worker_user(apis[0])
        urls = [server.base_url for server in servers]

        def start_worker():
            name = f"w{len(workers) + 1}"
            turn = len(workers) % len(urls)
            workers.append(Worker(name, logs, key, urls[turn:] + urls[:turn]))
            running.append(workers[-1])

        for _ in range(WORKERS):
            start_worker()
        job_ids = _create_jobs(apis)
        assert len(set(job_ids)) == JOBS
        assert wait_for(lambda: _processed(apis[0], running) >= JOBS // 10, 60)
        if doomed is not None:  # an instance dies under the workers: the others carry on
            killed_at = time.time()
            doomed.process.kill()
            doomed.process.wait()

        # SIGKILL workers holding leases; a replacement takes each one's place.
        for victim in workers[:KILLS]:
            _when_holding(victim)
            victim.signal(signal.SIGKILL)
            victim.process.wait()
            killed.append(victim)
            running.remove(victim)
            start_worker()
        # Stop one holding leases until they have lapsed: its late outcomes must get 409.
        sleeper = workers[KILLS]
        for _ in range(20):
            _when_holding(sleeper)
            sleeper.signal(signal.SIGSTOP)
            stale = sleeper.held()  # its log is complete now: what it holds while stopped
            if len(stale) >= 2:
                break
            sleeper.signal(signal.SIGCONT)
        assert len(stale) >= 2, "the stopped worker never held leases"
        lapse = max(_parse(expires) for _, _, expires in stale) + 0.5
        assert wait_for(lambda: time.time() > lapse, LEASE_SECONDS + 30)
        sleeper.signal(signal.SIGCONT)
        stale = {(job, attempt) for job, attempt, _ in stale}
        wait_for(lambda: not stale - {(r["job"], r["attempt"]) for r in sleeper.records()
                                      if r["event"] == "complete"}, 30)

        assert wait_for(lambda: _processed(apis[0], running) == JOBS, 90)
        worked = time.monotonic() - started
        for worker in running:
            worker.terminate()  # all at once, then wait for each
        assert [worker.stop() for worker in running] == [0] * len(running)
        summary = apis[1].get("/jobs/summary").json()
        assert summary == {**dict.fromkeys(summary, 0), "PROCESSED": JOBS, "total": JOBS}
        histories = _attempts(apis, job_ids)
    finally:
        for worker in workers:
            worker.signal(signal.SIGCONT)  # a stopped one could not stop
            worker.stop()
        for server in servers:
            server.stop()

    for server in servers:  # nor a 5xx to the test's own requests, nor a crash
        log = server.log_text()
        assert "Traceback" not in log
        assert not re.search(r'HTTP/1\.1" 5\d\d ', log)
    records = [record for worker in workers for record in worker.records()]
    claims = [record for record in records if record["event"] == "claim"]
    completes = [record for record in records if record["event"] == "complete"]
    # No 5xx, and every request answered but those to the killed instance after its end
    # (sent up to a second before: a request may be under way when the process dies).
    cut = [r for r in records if r["status"] == 0 and doomed is not None
           and r["server"] == doomed.base_url and r["t"] >= killed_at - 1]
    assert [r for r in records if r["status"] >= 500 or (r["status"] == 0 and r not in cut)] == []
    assert {r["status"] for r in claims} <= {200, 0}
    assert {r["status"] for r in completes} <= {200, 409, 0}
    # A request cut by the kill may have been done before it: whose answer its worker lost.
    cut_claims = {r["worker"] for r in cut if r["event"] == "claim"}
    cut_completes = {(r["job"], r["attempt"], r["worker"]) for r in cut if r["event"] == "complete"}

    # Exactly one processed attempt per job, nothing left running.
    processed = {}
    for job_id, history in histories.items():
        outcomes = [attempt["outcome"] for attempt in history]
        assert outcomes.count("processed") == 1, (job_id, history)
        assert set(outcomes) <= {"processed", "lease_expired"}, (job_id, history)
        [processed[job_id]] = [(a["attempt"], a["workerId"]) for a in history
                               if a["outcome"] == "processed"]
    # Every 200 complete is its job's processed attempt, and there is one per job but for
    # a killed worker's last request, answered after the kill.
    successes = collections.Counter((r["job"], r["attempt"], r["worker"])
                                    for r in completes if r["status"] == 200)
    assert max(successes.values()) == 1
    assert all(processed[job] == (attempt, worker) for job, attempt, worker in successes)
    unlogged = [job for job, (attempt, worker) in processed.items()
                if (job, attempt, worker) not in successes
                and (job, attempt, worker) not in cut_completes]
    assert len(unlogged) <= len(killed)
    assert {processed[job][1] for job in unlogged} <= {worker.name for worker in killed}
    # Every 409 is a lease that lapsed: never the processed attempt.
    conflicts = [(r["job"], r["attempt"]) for r in completes if r["status"] == 409]
    for job, attempt in conflicts:
        [outcome] = [a["outcome"] for a in histories[job] if a["attempt"] == attempt]
        assert outcome == "lease_expired", (job, attempt)
    # (but for the one it may have sent before it stopped)
    assert len(stale & set(conflicts)) >= len(stale) - 1 >= 1, (stale, conflicts)

    # Attempts are the claims: each logged claim is an attempt of its worker, and an attempt
    # not logged is a killed worker's claim whose answer it never read.
    claimed = {(job, attempt): r["worker"] for r in claims for job, attempt, _, _ in r["jobs"]}
    assert len(claimed) == sum(len(r["jobs"]) for r in claims)
    recorded = {(job, a["attempt"]): a for job, history in histories.items() for a in history}
    assert all(recorded[key]["workerId"] == worker for key, worker in claimed.items())
    for key in recorded.keys() - claimed.keys():
        assert recorded[key]["workerId"] in {worker.name for worker in killed} | cut_claims
        assert recorded[key]["outcome"] == "lease_expired"
    lapsed = sum(a["outcome"] == "lease_expired" for a in recorded.values())
    assert lapsed >= len(stale) + 1  # the killed workers' leases lapsed too

    print(f"work load: {JOBS} jobs, {INSTANCES} instances"
          f"{' (one killed: ' + str(len(cut)) + ' requests cut)' if doomed else ''}, "
          f"{len(workers)} workers ({len(killed)} killed, 1 stopped "
          f"past its lease), {len(claims)} claims, {len(completes)} completes "
          f"({len(conflicts)} refused with 409), {lapsed} leases lapsed, "
          f"all processed after {worked:.0f} s, checked after {time.monotonic() - started:.0f} s")
