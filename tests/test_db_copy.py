"""`flask db copy`: a SQLite database filled through the service, copied to a throwaway
PostgreSQL and back to a new SQLite file, and read through the service on each."""

import os
import pathlib
import subprocess
import sys

import pytest

import pgcluster
from conftest import ADMIN_PASSWORD, Api, LiveServer, query, query_many, wait_for
from jobsapi import create_app, database, dbcopy

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLES = [model._meta.table_name for model in database.MODELS]
# The queue stats that do not move with the clock (the oldest job's wait, the last minute's
# usage do).
STATS = ("model", "counts", "inFlight", "processedLastHour", "failedLastHour", "limits")
NESTED = {"text": "Grüße aus Köln, 東京, emoji 🎉", "quote": "\"'\\",
          "deep": {"list": [1, 2.5, None, True, False, {"ü": ["ß", {"x": []}]}], "empty": {}}}


def copy(source, target):
    """Run `flask --app app db copy TARGET` from the repository root on `source`."""
    env = {**os.environ, "JOBSAPI_DATABASE": str(source),
           "JOBSAPI_SECRET_KEY": pgcluster.SECRET_KEY}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "copy", str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def serve(directory, where):
    """A live server on the database `where` with its loop off (nothing changes the data
    but the test)."""
    directory.mkdir(exist_ok=True)
    return LiveServer(directory, JOBSAPI_DATABASE=str(where), JOBSAPI_SCHEDULER="0",
                      JOBSAPI_SECRET_KEY=pgcluster.SECRET_KEY).start()


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def keyed(server, key):
    """An Api on `server` that sends the API key `key` (reads through it log no activity)."""
    api = Api(server)
    api.session.headers["Authorization"] = f"Bearer {key}"
    return api


def rows(where, table):
    """Every row of `table` in the database `where`, as text, sorted."""
    return sorted(tuple(map(str, row)) for row in query(where, f"SELECT * FROM {table}"))


def counts(where):
    """Rows per table in the database `where`."""
    return {table: query(where, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}


class Filled:
    """What the test made through the service on the first database."""

    def __init__(self, server):
        self.admin = Api(server, "admin", ADMIN_PASSWORD)
        self.passwords = {"admin": ADMIN_PASSWORD}
        alice = self.user("alice", [])
        worker = self.user("worker", ["jobs.work"])
        ops = self.user("ops", ["settings.update", "activities.read"])
        self.reader_key = self.key(1, "reader")
        self.worker_key = self.key(worker.user["id"], "w1")
        work = keyed(server, self.worker_key)

        first = ok(alice.post("/jobs", headers={"Idempotency-Key": "k-1"}, json={
            "operation": "summarize", "prompts": ["Fasse zusammen: “Ärger” 🎉", "two"],
            "model": "m-copy", "temperature": 0.7, "priority": 7, "requestData": NESTED,
            "clientReference": {"ref": "ü-1", "n": [1, 2]}}), 201)
        batch = ok(alice.post("/jobs/batch", json={"jobs": [
            {"operation": "translate", "prompts": [f"p{n}"], "model": model,
             "requestData": {"n": n, "nested": NESTED["deep"]}}
            for n, model in enumerate(["m-copy", "m-other", "m-other"])]}), 201)
        ok(alice.delete(f"/jobs/{batch[2]['jobId']}"), 204)
        claim = work.post("/jobs/claim", json={"workerId": "w1", "models": ["m-copy"]})
        [claimed] = ok(claim)["jobs"]
        ok(work.post(f"/jobs/{claimed['jobId']}/complete", json={
            "leaseToken": claimed["lease"]["token"], "responseData": {"answer": "Ja, 東京"},
            "processingMetrics": {"inputTokens": 12, "outputTokens": 3}}))
        self.job_ids = [first["jobId"], *(job["jobId"] for job in batch)]
        self.claimed = claimed["jobId"]

        ok(self.admin.put("/api/model-limits/m-copy", json={"maxConcurrency": 3,
                                                            "requestsPerMinute": 60}))
        ok(ops.patch("/api/jobs/prune-job-logs", json={"schedule": "0 4 * * *"}))
        run = ok(ops.post("/api/jobs/cleanup-expired-tokens/trigger"))["runId"]
        assert wait_for(lambda: self.finished(ops, run), timeout=15)
        for size in (1000, 500):  # more jobs than one batch of the copy holds
            ok(alice.post("/jobs/batch", json={"jobs": [
                {"operation": "bulk", "prompts": ["p"], "model": "m-bulk", "requestData": {}}
            ] * size}), 201)
        ok(alice.post("/api/auth/logout", json={"refreshToken": alice.tokens["refreshToken"]}),
           204)  # a revoked access token and refresh token
        failed = alice.post("/api/auth/login", json={"username": "alice", "password": "wrong"})
        assert failed.status_code == 401  # a login failure

    def user(self, name, permissions):
        password = f"{name}-password-1"
        ok(self.admin.post("/api/users", json={"username": name, "password": password,
                                               "permissions": permissions}), 201)
        self.passwords[name] = password
        return Api(self.admin.server, name, password)

    def key(self, user_id, name):
        made = self.admin.post(f"/api/users/{user_id}/api-keys", json={"name": name})
        return ok(made, 201)["key"]

    @staticmethod
    def finished(api, run_id):
        logs = ok(api.get("/api/jobs/cleanup-expired-tokens/logs"))["logs"]
        return any(log["id"] == run_id and log["result"] == "success" for log in logs)


def state(server, filled):
    """What the service shows of the data, read with the admin's API key."""
    api = keyed(server, filled.reader_key)
    jobs = {job_id: (response.status_code, response.json())
            for job_id in filled.job_ids for response in [api.get(f"/jobs/{job_id}")]}
    prune = ok(api.get("/api/jobs/prune-job-logs"))
    return {
        "jobs": jobs,
        "attempts": ok(api.get(f"/jobs/{filled.claimed}/attempts")),
        "summary": ok(api.get("/jobs/summary")),
        "stats": [{name: stats[name] for name in STATS}
                  for stats in ok(api.get("/jobs/stats"))["models"]],
        "users": ok(api.get("/api/users")),
        "limits": ok(api.get("/api/model-limits")),
        "schedule": (prune["schedule"], prune["enabled"]),
        "runs": ok(api.get("/api/jobs/cleanup-expired-tokens/logs")),
        "activities": ok(api.get("/api/activities?limit=100")),
    }


def check_the_copy(server, filled, expected):
    """The copy shows what the original showed; its users log in and its key works; new
    rows get new ids. What it shows after those writes."""
    assert state(server, filled) == expected
    for name, password in filled.passwords.items():
        Api(server, name, password)
    ok(keyed(server, filled.worker_key).get("/api/auth/me"))
    admin = Api(server, "admin", ADMIN_PASSWORD)
    old_ids = [user["id"] for user in expected["users"]]
    new = ok(admin.post("/api/users", json={"username": f"new-{len(old_ids)}",
                                            "password": "new-password-1"}), 201)
    assert new["id"] > max(old_ids)
    job = ok(admin.post("/jobs", json={"operation": "o", "prompts": ["p"], "model": "m-copy",
                                       "requestData": {}}), 201)
    assert job["jobId"] not in filled.job_ids
    filled.job_ids.append(job["jobId"])
    filled.passwords[new["username"]] = "new-password-1"
    return state(server, filled)


def test_sqlite_to_postgresql_and_back(tmp_path):
    source_file = tmp_path / "source.db"
    source = serve(tmp_path / "source", source_file)
    try:
        filled = Filled(source)
        expected = state(source, filled)
    finally:
        source.stop()
    # Idempotency keys (a key of two columns) past one batch too, written as the service
    # writes them.
    query_many(source_file, "INSERT INTO idempotency_keys (user_id, key, request_hash, status,"
               " response, created_at) VALUES (?, ?, 'h', 201, '{}', '2026-01-02 03:04:05.678')",
               [(user_id, f"key-{n}") for user_id in (1, 2) for n in range(700)])
    first = expected["jobs"][filled.job_ids[0]][1]
    assert (first["requestData"], first["status"]) == (NESTED, "PROCESSED")  # something to compare

    url = pgcluster.cluster().create_database()
    result = copy(source_file, url)
    assert result.returncode == 0, result.stderr
    assert "row counts of all 13 tables match" in result.stdout
    assert counts(url) == counts(source_file)
    assert rows(url, "job_counts") == rows(source_file, "job_counts")

    refused = copy(source_file, url)
    assert refused.returncode != 0
    filled_tables = ", ".join(sorted(table for table, n in counts(url).items() if n))
    assert refused.stderr.strip().splitlines() == [
        f"Error: target {url} is not empty ({filled_tables} hold rows): "
        "copy into an empty database"]

    copied = serve(tmp_path / "postgresql", url)
    try:
        expected = check_the_copy(copied, filled, expected)
    finally:
        copied.stop()

    back_file = tmp_path / "back" / "copy.db"
    result = copy(url, back_file)
    assert result.returncode == 0, result.stderr
    assert counts(back_file) == counts(url)
    assert rows(back_file, "job_counts") == rows(url, "job_counts")
    back = serve(tmp_path / "back", back_file)
    try:
        check_the_copy(back, filled, expected)
    finally:
        back.stop()


@pytest.fixture
def sqlite_source(tmp_path):
    """A SQLite database made by the service (its admin, its scheduled jobs)."""
    path = tmp_path / "source.db"
    create_app({"JOBSAPI_DATABASE": str(path), "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})
    return path


def test_a_sqlite_file_holding_rows_is_refused_and_left_alone(tmp_path, sqlite_source):
    target = tmp_path / "other" / "target.db"
    create_app({"JOBSAPI_DATABASE": str(target), "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})
    before = counts(target)
    result = copy(sqlite_source, target)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Error: target {target} is not empty (scheduled_jobs, users hold rows):"
        " copy into an empty database"]
    assert counts(target) == before


@pytest.mark.parametrize("target, message", [
    ("postgresql://jobs:s3cret@db.example/jobs?bogus=1",
     "Error: target: not a PostgreSQL URL libpq can read: postgresql://jobs:***@db.example/"
     "jobs?bogus=1 (invalid URI query parameter: \"bogus\")"),
    ("mysql://jobs:s3cret@db.example/jobs",
     "Error: target: neither a postgresql:// URL nor a file path: "
     "mysql://jobs:***@db.example/jobs"),
])
def test_a_target_that_is_no_database_is_one_line_without_its_password(
        sqlite_source, target, message):
    result = copy(sqlite_source, target)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [message]
    assert "s3cret" not in result.stdout + result.stderr


def test_an_unreachable_postgresql_is_one_line(sqlite_source):
    url = pgcluster.cluster().url_for("no_such_database")
    result = copy(sqlite_source, url)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: target: cannot reach PostgreSQL at {url}: ")
    assert "no_such_database" in line


def test_row_counts_that_differ_are_named():
    assert dbcopy.differences({"users": 3, "jobs": 5}, {"users": 3, "jobs": 4}) == [
        "jobs: 5 in the source, 4 in the target"]
    assert dbcopy.differences({"users": 3}, {"users": 3}) == []


def test_a_file_that_is_no_database_is_one_line_and_left_alone(tmp_path, sqlite_source):
    target = tmp_path / "notes.txt"
    target.write_text("not a database\n" * 100)
    result = copy(sqlite_source, target)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Error: copy to {target} failed: file is not a database"]
    assert target.read_text() == "not a database\n" * 100
