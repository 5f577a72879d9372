"""Concurrency: many clients on one server (three on PostgreSQL), and several servers on
one database."""

import collections
import datetime as dt
import os
import random
import re
import sqlite3
import threading
import time

import peewee as pw
import pytest
import requests

from conftest import ADMIN_PASSWORD, POSTGRESQL, ROOT, Api, LiveServer, database_settings, query
from jobsapi.secretkey import load_secret_key
from schedules import Registry, Scheduler

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
SCHEDULE_SECONDS = float(os.environ.get("SCHEDULE_SECONDS", "30"))
SEED = int(os.environ.get("LOAD_SEED") or random.SystemRandom().randrange(2**32))
CLIENTS = 32
USERS = 8  # the clients share these accounts, four to one
MISSING_ID = "0123456789abcdef01234567"
EVERY_SECOND = "* * * * * *"
# The clients' servers: one on SQLite (one box), three instances on one PostgreSQL.
INSTANCES = 3 if POSTGRESQL else 1

pytestmark = pytest.mark.both_backends


def job_body(reference, **overrides):
    return {"operation": "load-test", "prompts": ["p"], "model": "m", "requestData": {"x": 1},
            "clientReference": reference, **overrides}


class Client:
    """One client thread's session and ledger: what the server acknowledged to it."""

    def __init__(self, api, number, rng):
        self.api, self.number, self.rng = api, number, rng
        self.live = {}  # jobId -> the fields the last acknowledged write left
        self.deleted = set()
        self.rejected = 0
        self.sequence = 0
        self.requests = collections.Counter()
        self.failures = []

    def reference(self, **extra):
        self.sequence += 1
        return {"client": self.number, "n": self.sequence, **extra}

    def call(self, method, path, expected, **kwargs):
        """One request; anything but `expected` is recorded as a failure (None returned)."""
        kind = f"{method} {re.sub('/[0-9a-f]{24}$', '/<id>', path.split('?')[0])}"
        self.requests[kind] += 1
        try:
            response = self.api.request(method, path, timeout=60, **kwargs)
        except requests.RequestException as error:
            self.failures.append(f"{kind}: {error!r}")
            return None
        if response.status_code != expected or "database is locked" in response.text:
            self.failures.append(f"{kind}: {response.status_code} {response.text[:300]}")
            return None
        return response

    def some_live(self, most):
        ids = list(self.live)
        return self.rng.sample(ids, min(len(ids), self.rng.randint(1, most)))

    def acknowledge(self, jobs):
        for job in jobs:
            self.live[job["jobId"]] = {key: job[key] for key in ("status", "priority",
                                                                  "clientReference")}

    # -- the operations ------------------------------------------------------------

    def create_one(self):
        response = self.call("POST", "/jobs", 201, json=job_body(self.reference()))
        if response is not None:
            self.acknowledge([response.json()])

    def create_batch(self):
        bodies = [job_body(self.reference()) for _ in range(self.rng.randint(2, 20))]
        response = self.call("POST", "/jobs/batch", 201, json={"jobs": bodies})
        if response is not None:
            self.acknowledge(response.json())

    def update_one(self):
        for job_id in self.some_live(1):
            change = {"priority": self.rng.randint(1, 1000), "clientReference": self.reference()}
            if self.live[job_id]["status"] == "PENDING" and self.rng.random() < 0.3:
                change["status"] = "PROCESSING"
            response = self.call("PATCH", f"/jobs/{job_id}", 200, json=change)
            if response is not None:
                self.acknowledge([response.json()])

    def update_batch(self):
        changes = [{"jobId": job_id, "priority": self.rng.randint(1, 1000),
                    "clientReference": self.reference()} for job_id in self.some_live(10)]
        if not changes:
            return
        response = self.call("PATCH", "/jobs/batch", 200, json={"jobs": changes})
        if response is not None:
            self.acknowledge(response.json())

    def delete_one(self):
        for job_id in self.some_live(1):
            if self.call("DELETE", f"/jobs/{job_id}", 204) is not None:
                self.deleted.add(job_id)
                del self.live[job_id]

    def delete_batch(self):
        job_ids = self.some_live(5)
        if not job_ids:
            return
        if self.call("DELETE", "/jobs/batch", 204, json={"jobIds": job_ids}) is not None:
            self.deleted.update(job_ids)
            for job_id in job_ids:
                del self.live[job_id]

    def read(self):
        path = self.rng.choice(["/jobs?limit=50", f"/jobs?clientReference.client={self.number}",
                                "/jobs/summary", "/jobs?status=PENDING&limit=20"])
        self.call("GET", path, 200)

    # Batches whose last item fails: 400, and none of their items may be written.
    def rejected_create(self):
        bodies = [job_body(self.reference(rejected=True)) for _ in range(self.rng.randint(1, 10))]
        bodies.append(job_body(self.reference(rejected=True), model=""))
        if self.call("POST", "/jobs/batch", 400, json={"jobs": bodies}) is not None:
            self.rejected += 1

    def rejected_update(self):
        reference = {"client": self.number, "rejected": True}
        changes = [{"jobId": job_id, "priority": 1, "clientReference": reference}
                   for job_id in self.some_live(10)]
        changes.append({"jobId": MISSING_ID, "priority": 1})
        if self.call("PATCH", "/jobs/batch", 400, json={"jobs": changes}) is not None:
            self.rejected += 1

    def rejected_delete(self):
        job_ids = self.some_live(5) + [MISSING_ID]
        if self.call("DELETE", "/jobs/batch", 400, json={"jobIds": job_ids}) is not None:
            self.rejected += 1

    OPERATIONS = {create_one: 10, create_batch: 10, update_one: 10, update_batch: 8,
                  delete_one: 5, delete_batch: 4, read: 15,
                  rejected_create: 3, rejected_update: 2, rejected_delete: 2}

    def run(self, until):
        operations, weights = zip(*self.OPERATIONS.items())
        while time.monotonic() < until and not self.failures:
            self.rng.choices(operations, weights)[0](self)

    def stored(self):
        """This client's live jobs as the list shows them, following the Link header."""
        url = f"{self.api.server.base_url}/jobs?clientReference.client={self.number}&limit=500"
        jobs = {}
        while url:
            response = self.api.session.get(url, timeout=60)
            assert response.status_code == 200, response.text
            jobs.update({job["jobId"]: job for job in response.json()})
            url = response.links.get("next", {}).get("url")
        return jobs


def test_32_clients_for_a_minute_lose_nothing(tmp_path):
    print(f"\nload test seed: {SEED}")
    rng = random.Random(SEED)
    server = LiveServer(tmp_path).start(timeout=60)
    servers = [server]
    for number in range(1, INSTANCES):
        (tmp_path / f"instance-{number}").mkdir()
        servers.append(LiveServer(tmp_path / f"instance-{number}",
                                  JOBSAPI_DATABASE=server.database).start(timeout=60))
    try:
        admin = Api(server, "admin", ADMIN_PASSWORD)
        tokens = []
        for number in range(USERS):
            user = {"username": f"load-{number}", "password": f"password-{number}",
                    "role": "client"}
            assert admin.post("/api/users", json=user).status_code == 201
            api = Api(server, user["username"], user["password"])
            tokens.append(api.session.headers["Authorization"])
        clients = []
        for number in range(CLIENTS):  # spread over the instances: one writes, another reads
            api = Api(servers[number % INSTANCES])
            api.session.headers["Authorization"] = tokens[number % USERS]
            clients.append(Client(api, number, random.Random(rng.getrandbits(64))))
        started = time.monotonic()
        threads = [threading.Thread(target=client.run, args=(started + LOAD_SECONDS,))
                   for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=LOAD_SECONDS + 120)
            assert not thread.is_alive()
        elapsed = time.monotonic() - started
        failures = [failure for client in clients for failure in client.failures]
        assert failures == [], failures[:20]

        for client in clients:
            stored = client.stored()
            assert set(stored) == set(client.live), f"client {client.number}: stored jobs differ"
            for job_id, fields in client.live.items():
                assert {key: stored[job_id][key] for key in fields} == fields
            for job_id in sorted(client.deleted)[:5]:
                assert client.api.get(f"/jobs/{job_id}").status_code == 404
        for client in clients[:USERS]:  # one per account: nothing of a rejected batch is stored
            assert client.api.get("/jobs?clientReference.rejected=true").json() == []
        for each in servers:
            log = each.log_text()
            assert "database is locked" not in log and "Traceback" not in log
    finally:
        for each in servers:
            each.stop()
    served = sum(sum(client.requests.values()) for client in clients)
    kinds = sum((client.requests for client in clients), collections.Counter())
    print(f"load test: {CLIENTS} clients on {INSTANCES} instances, {served} requests served in {elapsed:.0f}s "
          f"({served / elapsed:.0f}/s), no 5xx, no 'database is locked'; "
          f"{sum(len(c.live) for c in clients)} live and {sum(len(c.deleted) for c in clients)} "
          f"deleted jobs as acknowledged; {sum(c.rejected for c in clients)} rejected batches "
          f"absent; by route: {dict(sorted(kinds.items()))}")


def test_three_servers_on_one_database_claim_each_slot_once(tmp_path):
    database = database_settings(tmp_path)["JOBSAPI_DATABASE"]
    env = {"JOBSAPI_DATABASE": database, "JOBSAPI_SCHEDULER_LEASE": "2"}
    servers = []
    for number in range(3):
        (tmp_path / f"server-{number}").mkdir()
        servers.append(LiveServer(tmp_path / f"server-{number}", **env))
    try:
        # All at once on a new file, as a process manager would start them.
        starting = [threading.Thread(target=server.start, kwargs={"timeout": 60})
                    for server in servers]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        assert all(server.process.poll() is None for server in servers)
        admin = Api(servers[0], "admin", ADMIN_PASSWORD)
        for server in servers:  # one key for all: a token from one is good on the others
            other = Api(server)
            other.session.headers["Authorization"] = admin.session.headers["Authorization"]
            assert other.get("/api/auth/me").status_code == 200
        response = admin.patch("/api/jobs/metadata-sync", json={"schedule": EVERY_SECOND})
        assert response.status_code == 200, response.text
        time.sleep(SCHEDULE_SECONDS)
        for server in servers:
            health = requests.get(server.base_url + "/health", timeout=30).json()
            assert health["scheduler"]["state"] == "running"
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert server.process.returncode == 0
        assert "Traceback" not in server.log_text()

    rows = [(as_datetime(slot), result, owner) for slot, result, owner in query(
        database, "SELECT scheduled_for, result, owner FROM job_runs "
        "WHERE job_id = 'metadata-sync' AND scheduled_for IS NOT NULL ORDER BY scheduled_for")]
    per_slot = collections.Counter(slot for slot, _, _ in rows)
    assert [slot for slot, count in per_slot.items() if count != 1] == []
    results = collections.Counter(result for _, result, _ in rows)
    assert set(results) <= {"success", "skipped", "missed", "interrupted"}, results
    assert results["interrupted"] <= 1  # at most the run under way when the servers stopped
    # No slot passes unrecorded: a gap in the slots follows a `missed` entry covering it.
    slots = [slot for slot, _, _ in rows]
    for (slot, result, _), following in zip(rows, slots[1:]):
        gap = following - slot
        assert gap == dt.timedelta(seconds=1) or result == "missed", (slot, following)
    handled = int((slots[-1] - slots[0]).total_seconds()) + 1  # every second, by the above
    assert handled >= SCHEDULE_SECONDS - 3
    owners = collections.Counter(owner for _, result, owner in rows if result == "success")
    assert len(owners) >= 2, owners  # the processes really did compete for the slots
    print(f"\nscheduler on 3 processes: {handled} one-second slots in {SCHEDULE_SECONDS:.0f}s, "
          f"each claimed once ({len(rows)} run log entries: {dict(results)}); "
          f"runs per process {sorted(owners.values())}")


def as_datetime(value):
    """A stored time as a datetime: SQLite gives its text, PostgreSQL a datetime."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


@pytest.mark.sqlite_only
def test_a_scheduler_pass_waits_for_another_writer_instead_of_failing(tmp_path):
    """Slots due while another connection writes are claimed once that write commits."""
    path = tmp_path / "s.db"
    db = pw.SqliteDatabase(str(path), pragmas={"journal_mode": "wal", "busy_timeout": 10000})
    db.connect()
    db.connection().executescript((ROOT / "schema.sql").read_text())
    registry = Registry()
    for job_id in ("first", "second"):  # two rows: the pass's SELECT is still open at the first
        registry.task(job_id, name=job_id, schedule="* * * * *")(lambda context: None)
    start = dt.datetime(2024, 5, 1, 10, 0)
    scheduler = Scheduler(registry).configure(db, clock=lambda: start)
    scheduler.sync(start)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    commit = threading.Timer(0.5, writer.execute, ["COMMIT"])
    commit.start()
    try:
        claimed, _ = scheduler.tick(start + dt.timedelta(minutes=1))
    finally:
        commit.join()
        writer.close()
        db.close()
    assert sorted(run.job_id for run in claimed) == ["first", "second"]


@pytest.mark.sqlite_only
def test_processes_starting_together_share_one_whole_secret_key(tmp_path):
    """The first start writes the key beside the database; the others read it, never empty."""
    for attempt in range(50):
        database = tmp_path / str(attempt) / "jobs.db"
        database.parent.mkdir()
        together, keys = threading.Barrier(4), []

        def start():
            together.wait()
            keys.append(load_secret_key(str(database)))

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(keys)) == 1 and len(keys[0]) >= 64, keys
        assert os.stat(database.parent / "secret_key").st_mode & 0o777 == 0o600
        assert os.listdir(database.parent) == ["secret_key"]
