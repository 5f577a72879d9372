"""Crashes lose nothing: SIGKILL the real server at random moments, then check what is
stored (in the SQLite file as the killed process left it, or on PostgreSQL)."""

import collections
import itertools
import os
import random
import shutil
import signal
import threading
import time

import pytest
import requests

import conftest
from conftest import ADMIN_PASSWORD, POSTGRESQL, Api, LiveServer, wait_for

pytestmark = pytest.mark.both_backends

KILLS = int(os.environ.get("CRASH_KILLS", "24"))
SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
WRITERS = 3  # client threads writing while the server is killed
MAX_BATCH = 120
INITIAL_PRIORITY = 500
SCHEDULER_KILLS = 3
EVERY_SECOND = "* * * * * *"


def priority_of(step):
    """The priority an update with `step` sets (step 0: as created)."""
    return INITIAL_PRIORITY if step == 0 else 1 + step % 1000


def job_body(marker, n):
    return {"operation": "crash-test", "prompts": [f"item {n}"], "model": "m",
            "requestData": {"n": n}, "clientReference": {"batch": marker}}


def query(database, sql, *params):
    return conftest.query(database, sql, params)


def intact(database):
    """SQLite's own check of the file; PostgreSQL keeps its files whatever a client does."""
    return POSTGRESQL or query(database, "PRAGMA integrity_check") == [("ok",)]


def kill(server):
    """SIGKILL the server process and reap it (and close its log)."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)
    server.stop()


class Batch:
    """A batch create as the client knows it: present, absent, or not known yet."""

    def __init__(self, marker, size, writer):
        self.marker, self.size, self.writer = marker, size, writer
        self.present = None  # None while the create's outcome is unknown (in flight at a kill)
        self.ids = None
        self.step = 0  # the last update known applied (0: none)
        self.pending = set()  # update steps sent whose outcome is unknown


class Ledger:
    """Every batch sent, what the client was told, and what went wrong while the server was up."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches = {}
        self.steps = itertools.count(1)
        self.failures = []
        self.acknowledged = collections.Counter()
        self.in_flight = collections.Counter()  # outcomes of writes cut off by a kill

    def add(self, batch):
        with self.lock:
            self.batches[batch.marker] = batch

    def updatable(self, writer):
        with self.lock:
            return [b for b in self.batches.values()
                    if b.writer == writer and b.present and not b.pending]


def write_until_killed(api, ledger, writer, rng, killed, cycle):
    """Batch creates and batch updates, one after another, until the server dies."""
    for count in itertools.count():
        mine = ledger.updatable(writer)
        try:
            if mine and rng.random() < 0.5:
                batch, step = rng.choice(mine), next(ledger.steps)
                batch.pending.add(step)
                changes = [{"jobId": job_id, "priority": priority_of(step),
                            "clientReference": {"batch": batch.marker, "step": step}}
                           for job_id in batch.ids]
                response = api.patch("/jobs/batch", json={"jobs": changes})
                expected, kind = 200, "update"
            else:
                batch = Batch(f"c{cycle}-w{writer}-{count}", rng.randint(1, MAX_BATCH), writer)
                ledger.add(batch)
                bodies = [job_body(batch.marker, n) for n in range(batch.size)]
                response = api.post("/jobs/batch", json={"jobs": bodies})
                expected, kind = 201, "create"
        except requests.RequestException as error:
            if not killed.is_set():
                ledger.failures.append(f"writer {writer}: {error!r} while the server was up")
            return
        if response.status_code != expected:
            ledger.failures.append(f"writer {writer}: {kind} got {response.status_code}: "
                                   f"{response.text[:300]}")
            return
        if kind == "update":
            batch.step = step
            batch.pending.discard(step)
        else:
            batch.ids = [job["jobId"] for job in response.json()]
            batch.present = True
        ledger.acknowledged[kind] += 1


def snapshot(server, directory):
    """A copy of the database file and its WAL as the killed process left them (on
    PostgreSQL, the database itself: the server outlives its client)."""
    if POSTGRESQL:
        return server.database
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for suffix in ("", "-wal"):
        source = server.database.with_name(server.database.name + suffix)
        if source.exists():
            shutil.copyfile(source, directory / source.name)
    return directory / server.database.name


def check_stored(path, ledger):
    """Integrity, whole batches, whole updates; resolve the outcomes of cut-off writes."""
    assert intact(path)
    if POSTGRESQL:
        rows = query(path, "SELECT id, priority, client_reference ->> 'batch', "
                           "coalesce((client_reference ->> 'step')::integer, 0) FROM jobs")
    else:
        rows = query(path, "SELECT id, priority, json_extract(client_reference, '$.batch'), "
                           "coalesce(json_extract(client_reference, '$.step'), 0) FROM jobs")
    stored = collections.defaultdict(list)
    for job_id, priority, marker, step in rows:
        stored[marker].append((job_id, step, priority))
    assert set(stored) <= set(ledger.batches), "jobs of batches never sent"
    for batch in ledger.batches.values():
        found = stored.get(batch.marker, [])
        assert len(found) in (0, batch.size), (
            f"batch {batch.marker} is partly stored: {len(found)} of {batch.size} jobs")
        if batch.present is None:
            batch.present = bool(found)
            batch.ids = [job_id for job_id, _, _ in found]
            ledger.in_flight["create committed" if found else "create rolled back"] += 1
        assert len(found) == (batch.size if batch.present else 0), (
            f"acknowledged batch {batch.marker} is gone")
        if not found:
            continue
        assert sorted(job_id for job_id, _, _ in found) == sorted(batch.ids)
        states = {(step, priority) for _, step, priority in found}
        assert len(states) == 1, f"batch {batch.marker} is half-updated: {sorted(states)}"
        [(step, priority)] = states
        assert priority == priority_of(step)
        assert step == batch.step or step in batch.pending, (
            f"batch {batch.marker} shows step {step}; acknowledged {batch.step}, "
            f"in flight {batch.pending}")
        if batch.pending:
            applied = step in batch.pending
            ledger.in_flight["update committed" if applied else "update rolled back"] += 1
            batch.step = step
            batch.pending.clear()
    return len(rows)


def test_sigkill_during_batch_writes_loses_nothing_and_splits_nothing(tmp_path):
    print(f"\ncrash test seed: {SEED} (CRASH_SEED={SEED} repeats the choices)")
    rng = random.Random(SEED)
    ledger, token, stored = Ledger(), None, 0
    started = time.monotonic()
    for cycle in range(KILLS):
        server = LiveServer(tmp_path).start(timeout=60)
        try:
            if token is None:
                admin = Api(server, "admin", ADMIN_PASSWORD)
                response = admin.post("/api/users", json={
                    "username": "writer", "password": "writer-password", "role": "client"})
                assert response.status_code == 201, response.text
                # The signing key is kept beside the database: the token outlives restarts.
                token = Api(server, "writer", "writer-password").session.headers["Authorization"]
            else:  # the restarted server recovered the file it was killed on
                assert intact(server.database)
            killed = threading.Event()
            writers = []
            for writer in range(WRITERS):
                api = Api(server)
                api.session.headers["Authorization"] = token
                thread = threading.Thread(target=write_until_killed, args=(
                    api, ledger, writer, random.Random(rng.getrandbits(64)), killed, cycle))
                thread.start()
                writers.append(thread)
            time.sleep(rng.uniform(0.0, 1.5))
            killed.set()
        finally:
            kill(server)
        for thread in writers:
            thread.join(timeout=60)
            assert not thread.is_alive()
        assert ledger.failures == [], ledger.failures
        stored = check_stored(snapshot(server, tmp_path / "snapshot"), ledger)

    server = LiveServer(tmp_path).start(timeout=60)
    try:
        writer = Api(server)
        writer.session.headers["Authorization"] = token
        present = [b for b in ledger.batches.values() if b.present]
        assert writer.get("/jobs/summary").json()["total"] == sum(b.size for b in present)
        batches = sorted(ledger.batches.values(), key=lambda b: b.marker)
        for batch in rng.sample(batches, min(20, len(batches))):
            response = writer.get(f"/jobs?clientReference.batch={batch.marker}&limit=500")
            assert response.status_code == 200
            assert len(response.json()) == (batch.size if batch.present else 0)
            assert {job["priority"] for job in response.json()} <= {priority_of(batch.step)}
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert intact(server.database)
    log = server.log_text()
    assert "Traceback" not in log and "database is locked" not in log
    print(f"crash test: {KILLS} SIGKILLs survived in {time.monotonic() - started:.0f}s; "
          f"{ledger.acknowledged['create']} batch creates and {ledger.acknowledged['update']} "
          f"batch updates acknowledged, all kept; {stored} jobs in {len(present)} batches; "
          f"writes cut off by a kill: {dict(ledger.in_flight)}, each whole or absent")


def runs(path):
    return query(path, "SELECT id, scheduled_for, result, owner FROM job_runs "
                       "WHERE job_id = 'metadata-sync' ORDER BY id")


def kill_during_run(server, rng, window=3.0):
    """After a random pause, SIGKILL the server as soon as a run is under way (or at the end
    of `window`); return the runs it left `running`."""
    time.sleep(rng.uniform(0.0, 1.0))
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        if query(server.database,
                 "SELECT 1 FROM job_runs WHERE job_id = 'metadata-sync' AND result = 'running'"):
            break
    kill(server)
    return [run for run in runs(server.database) if run[2] == "running"]


def test_a_killed_scheduler_restarts_cleanly_and_its_job_runs_again(tmp_path):
    rng = random.Random(SEED)
    env = {"JOBSAPI_SCHEDULER_LEASE": "2"}
    server = LiveServer(tmp_path, **env).start(timeout=60)
    caught = interrupted = 0
    try:
        admin = Api(server, "admin", ADMIN_PASSWORD)
        response = admin.patch("/api/jobs/metadata-sync", json={"schedule": EVERY_SECOND})
        assert response.status_code == 200, response.text
        assert wait_for(lambda: any(r[2] == "success" for r in runs(server.database)), 20)
    except BaseException:
        server.stop()
        raise
    for _ in range(SCHEDULER_KILLS):
        left_running = kill_during_run(server, rng)
        caught += bool(left_running)
        last_id = max(run[0] for run in runs(server.database))
        server = LiveServer(tmp_path, **env).start(timeout=60)
        try:
            admin = Api(server, "admin", ADMIN_PASSWORD)
            job = admin.get("/api/jobs/metadata-sync").json()
            assert job["schedule"] == EVERY_SECOND  # the admin's change survived the kill

            def recovered():
                logs = admin.get("/api/jobs/metadata-sync/logs?limit=100").json()["logs"]
                by_id = {log["id"]: log for log in logs}
                return (all(by_id.get(run[0], {}).get("result") == "interrupted"
                            for run in left_running)
                        and any(log["id"] > last_id and log["result"] == "success"
                                and log["triggeredBy"] == "scheduler" for log in logs))

            assert wait_for(recovered, 30), runs(server.database)[-20:]
        except BaseException:
            server.stop()
            raise
        for run_id, slot, _, _ in left_running:
            [(details,)] = query(server.database,
                                 "SELECT details FROM job_runs WHERE id = ?", run_id)
            assert "heartbeat" in details
            # ... and the job ran again on a later slot
            assert query(server.database, "SELECT count(*) FROM job_runs WHERE job_id = "
                         "'metadata-sync' AND scheduled_for > ? AND result = 'success'", slot)[0][0]
            interrupted += 1
    server.stop()
    assert server.process.returncode == 0
    assert intact(server.database)
    assert [run for run in runs(server.database) if run[2] == "running"] == []
    assert "Traceback" not in server.log_text()
    assert caught >= 1, "no kill landed while a run was under way"
    print(f"\nscheduler: {SCHEDULER_KILLS} SIGKILLs, {caught} of them mid-run; {interrupted} "
          f"runs closed interrupted; {len(runs(server.database))} run log entries")
