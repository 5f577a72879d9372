"""Per-model limits through the real server (two processes on one database) and, for the
per-minute windows, on an injected clock: concurrency, requests and tokens per minute,
pauses from a provider's 429, queue stats and workers."""

import datetime as dt
import secrets
import threading

import pytest
from flask import current_app

from conftest import (ADMIN_PASSWORD, Api, LiveServer, assert_error, query,
                      wait_for)
from jobsapi import claims, create_app, database, limits, outcomes, workjobs
from jobsapi.models import User

pytestmark = pytest.mark.both_backends

JOB = {"operation": "summarize", "prompts": ["Summarize this."], "requestData": {}}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two server processes on one database file."""
    first = LiveServer(tmp_path_factory.mktemp("limits")).start()
    second = LiveServer(first.directory, JOBSAPI_DATABASE=first.database)
    second.log_path = first.directory / "second.log"
    second.start()
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture(scope="module")
def boss(servers):
    return Api(servers[0], "admin", ADMIN_PASSWORD)


def user(server, boss, permissions=()):
    name, password = f"u-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    assert boss.post("/api/users", json={"username": name, "password": password,
                                         "permissions": list(permissions)}).status_code == 201
    return Api(server, name, password)


def worker_key(server, boss):
    worker = user(server, boss, ["jobs.work"])
    key = boss.post(f"/api/users/{worker.user['id']}/api-keys", json={"name": "w"}).json()["key"]
    api = Api(server)
    api.session.headers["Authorization"] = f"Bearer {key}"
    return api


def create(client, model, count, **fields):
    jobs = [{**JOB, "model": model, **fields}] * count
    response = client.post("/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    return [job["jobId"] for job in response.json()]


def most_at_once(database_file, model):
    """The most attempts of `model` that were held at the same moment."""
    rows = query(database_file, "SELECT claimed_at, ended_at FROM job_attempts WHERE model = ?",
                 (model,))
    events = sorted([(start, 1) for start, _ in rows] + [(end, -1) for _, end in rows if end])
    held = most = 0
    for _, change in events:  # at a tie an end comes first: -1 sorts before 1
        held += change
        most = max(most, held)
    return most


def test_max_concurrency_holds_across_two_processes_and_other_models_flow(servers, boss):
    first, second = servers
    client = user(first, boss)
    limited, free = f"a-{secrets.token_hex(3)}", f"b-{secrets.token_hex(3)}"
    assert boss.put(f"/api/model-limits/{limited}", json={"maxConcurrency": 2}).status_code == 200
    create(client, limited, 100)
    create(client, free, 100)
    keys = [worker_key(server, boss) for server in (first, second)]
    errors, done = [], []

    def work(api, name):
        while len(done) < 200:
            response = api.post("/jobs/claim", json={"workerId": name, "limit": 3,
                                                     "models": [limited, free]})
            if response.status_code >= 500:
                errors.append(response.text)
            for job in response.json().get("jobs", []):
                finished = api.post(f"/jobs/{job['jobId']}/complete",
                                    json={"leaseToken": job["lease"]["token"]})
                if finished.status_code != 200:
                    errors.append(finished.text)
                done.append(job["model"])
            if not response.json().get("jobs"):
                threading.Event().wait(0.01)

    threads = [threading.Thread(target=work, args=(keys[n % 2], f"w{n}")) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and sorted(set(done)) == sorted({limited, free}) and len(done) == 200
    assert most_at_once(first.database, limited) <= 2
    assert most_at_once(first.database, free) > 2  # the free model was not held back
    # B's jobs were claimed while A's waited: B was done before A's last job was claimed.
    assert done.index(free) < len(done) - 100


def test_a_rate_limited_failure_pauses_the_model_and_counts_no_attempt(servers, boss):
    first, _ = servers
    client, worker = user(first, boss), worker_key(first, boss)
    paused = f"p-{secrets.token_hex(3)}"
    one, two = create(client, paused, 2)
    [claimed] = worker.post("/jobs/claim", json={"workerId": "w", "models": [paused]}).json()["jobs"]
    failed = worker.post(f"/jobs/{claimed['jobId']}/fail", json={
        "leaseToken": claimed["lease"]["token"], "rateLimited": True, "pauseModel": True,
        "retryAfterSeconds": 2, "error": {"type": "RateLimit", "message": "429"}})
    assert failed.status_code == 200
    assert (failed.json()["status"], failed.json()["attempts"]) == ("PENDING", 0)
    limit = boss.get("/api/model-limits").json()
    assert [entry["model"] for entry in limit if entry["pausedUntil"]] == [paused]
    assert worker.post("/jobs/claim", json={"workerId": "w", "models": [paused],
                                            "limit": 5}).json()["jobs"] == []
    assert wait_for(lambda: worker.post("/jobs/claim", json={
        "workerId": "w", "models": [paused], "limit": 5}).json()["jobs"], timeout=10)


def test_model_limits_are_set_listed_removed_and_audited(servers, boss):
    first, _ = servers
    model = f"gpt/{secrets.token_hex(3)}"  # a slash in a model name is fine
    body = {"maxConcurrency": 3, "requestsPerMinute": 60, "tokensPerMinute": 90000,
            "pausedUntil": "2030-01-01T00:00:00+01:00"}
    saved = boss.put(f"/api/model-limits/{model}", json=body)
    assert saved.status_code == 200
    assert {key: saved.json()[key] for key in body} == {**body,
                                                       "pausedUntil": "2029-12-31T23:00:00.000Z"}
    assert saved.json() in boss.get("/api/model-limits").json()
    again = boss.put(f"/api/model-limits/{model}", json={"maxConcurrency": 1}).json()
    assert (again["maxConcurrency"], again["tokensPerMinute"], again["pausedUntil"]) == (1, None, None)
    assert boss.delete(f"/api/model-limits/{model}").status_code == 204
    assert_error(boss.delete(f"/api/model-limits/{model}"), 404)
    audit = boss.get("/api/activities", params={"action": "models.limits.update",
                                                "resourceId": model}).json()
    assert audit["total"] == 3
    assert_error(boss.put(f"/api/model-limits/{model}", json={"maxConcurrency": -1}), 400)
    ops = user(first, boss, ["settings.update"])
    assert ops.put(f"/api/model-limits/{model}", json={}).status_code == 200
    assert_error(user(first, boss).get("/api/model-limits"), 403)


def test_queue_stats_and_workers_for_admins_and_workers_only(servers, boss):
    first, _ = servers
    client, worker = user(first, boss), worker_key(first, boss)
    model = f"s-{secrets.token_hex(3)}"
    ids = create(client, model, 3, estimatedTokens=100)
    boss.put(f"/api/model-limits/{model}", json={"requestsPerMinute": 10})
    [held] = worker.post("/jobs/claim", json={"workerId": "stats-w", "models": [model]}).json()["jobs"]
    worker.post(f"/jobs/{held['jobId']}/complete", json={"leaseToken": held["lease"]["token"]})
    [held] = worker.post("/jobs/claim", json={"workerId": "stats-w", "models": [model]}).json()["jobs"]
    stats = {entry["model"]: entry for entry in worker.get("/jobs/stats").json()["models"]}[model]
    assert stats["counts"]["PENDING"] == 1 and stats["counts"]["PROCESSED"] == 1
    assert stats["counts"]["PROCESSING"] == 1 and stats["inFlight"] == 1
    assert stats["processedLastHour"] == 1 and stats["failedLastHour"] == 0
    assert stats["limits"]["requestsPerMinute"] == 10
    assert stats["usage"] == {"requestsLastMinute": 2, "tokensLastMinute": 200}
    assert stats["oldestPendingSeconds"] >= 0
    [seen] = [entry for entry in worker.get("/api/workers").json() if entry["workerId"] == "stats-w"]
    assert (seen["inFlight"], seen["processed"], seen["failed"]) == (1, 1, 0)
    assert seen["username"] and seen["firstSeen"] <= seen["lastSeen"]
    assert boss.get("/jobs/stats").status_code == 200
    assert_error(client.get("/jobs/stats"), 403)
    assert_error(client.get("/api/workers"), 403)
    assert len(ids) == 3


@pytest.fixture
def clocked(tmp_path):
    """An app, its admin and a job maker, for claims on an injected clock."""
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with app.app_context(), database.current().connection_context():
        owner = User.get(User.username == "admin")

        def make(model, count, now, **fields):
            items = [{"operation": "o", "prompts": ["x" * 40], "model": model,
                      "request_data": {}, "priority": 500, "max_attempts": 5,
                      "estimated_tokens": None, **fields}] * count
            return [job.id for job in workjobs.create_jobs(owner, items, now)]

        yield owner, make


T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


def taken(owner, model, now, limit=100):
    found = claims.claim(owner, "w", limit=limit, models=[model], now=now)
    for claimed in found:  # done at once: only the per-minute budgets hold them back
        outcomes.complete(claimed.job.id, claimed.token, now=now)
    return [claimed.job.id for claimed in found]


def test_requests_per_minute_hold_in_every_60_second_window(clocked):
    owner, make = clocked
    limits.set_limits("r", {"requests_per_minute": 30}, T0)
    make("r", 100, T0)
    claims_at = []
    for second in range(0, 180, 7):
        now = T0 + dt.timedelta(seconds=second)
        claims_at += [now] * len(taken(owner, "r", now, limit=10))
    assert len(claims_at) >= 60  # it went on claiming minute after minute
    for start in claims_at:
        window = [at for at in claims_at if start <= at < start + dt.timedelta(seconds=60)]
        assert len(window) <= 30


def test_tokens_per_minute_serve_a_job_over_the_budget_alone_and_starve_none(clocked):
    owner, make = clocked
    limits.set_limits("t", {"tokens_per_minute": 100}, T0)
    small = make("t", 2, T0, estimated_tokens=40)
    big = make("t", 1, T0, estimated_tokens=500)
    after = make("t", 1, T0, estimated_tokens=10)
    assert taken(owner, "t", T0) == small  # 80 of 100: the big job does not fit, so waits
    assert taken(owner, "t", T0 + dt.timedelta(seconds=30)) == []  # nor does the one after it
    assert taken(owner, "t", T0 + dt.timedelta(seconds=61)) == big  # alone, the minute empty
    assert taken(owner, "t", T0 + dt.timedelta(seconds=90)) == []
    assert taken(owner, "t", T0 + dt.timedelta(seconds=122)) == after


def test_reported_tokens_replace_the_estimate(clocked):
    owner, make = clocked
    limits.set_limits("e", {"tokens_per_minute": 100}, T0)
    first, second = make("e", 2, T0, estimated_tokens=90)
    [claimed] = claims.claim(owner, "w", limit=5, models=["e"], now=T0)
    assert claimed.job.id == first
    outcomes.complete(first, claimed.token, processing_metrics={"totalTokens": 5}, now=T0)
    assert taken(owner, "e", T0 + dt.timedelta(seconds=1)) == [second]  # 5 + 90 <= 100
    assert current_app.config["JOBSAPI_MAX_SNOOZES"] == 20


def test_a_pause_past_the_last_datetime_is_400(servers, boss):
    body = {"pausedUntil": "9999-12-31T23:59:00-05:00"}
    assert_error(boss.put("/api/model-limits/far", json=body), 400, "out of range")
    assert_error(boss.get("/api/activities", params={"since": body["pausedUntil"]}), 400)
