"""The worker protocol through the real server: one holder per job, fenced outcomes,
retries, releases, cancels, lapsed leases taken back, waiting claims, API keys and
idempotent creates."""

import datetime as dt
import secrets
import threading
import time

import pytest
import requests

from conftest import (ADMIN_PASSWORD, INTEGRITY_ERRORS, Api, LiveServer, assert_error,
                      wait_for)

pytestmark = pytest.mark.both_backends

JOB = {"operation": "summarize", "prompts": ["Summarize this."], "requestData": {"k": 1}}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A private server: workers claim any client's jobs, so these tests keep theirs
    apart from every other test's (and each test uses models of its own)."""
    server = LiveServer(tmp_path_factory.mktemp("work"), JOBSAPI_WAITING_CLAIMS="2").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def boss(live):
    return Api(live, "admin", ADMIN_PASSWORD)


def new_user(live, boss, permissions=()):
    name, password = f"u-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    response = boss.post("/api/users", json={"username": name, "password": password,
                                             "permissions": list(permissions)})
    assert response.status_code == 201, response.text
    return Api(live, name, password)


def key_for(live, boss, user, **body):
    """An API key of `user` (made by the admin), as an Api that sends it."""
    response = boss.post(f"/api/users/{user.user['id']}/api-keys", json={"name": "w", **body})
    assert response.status_code == 201, response.text
    api = Api(live)
    api.session.headers["Authorization"] = f"Bearer {response.json()['key']}"
    api.key = response.json()
    return api


@pytest.fixture(scope="module")
def client(live, boss):
    return new_user(live, boss)


@pytest.fixture(scope="module")
def worker(live, boss):
    return key_for(live, boss, new_user(live, boss, ["jobs.work"]))


def model():
    return f"m-{secrets.token_hex(4)}"


def create(client, **fields):
    response = client.post("/jobs", json={**JOB, "model": model(), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def claim(worker, job, **body):
    """Claim exactly `job` (by its own model): the claimed job."""
    response = worker.post("/jobs/claim", json={"workerId": "w1", "models": [job["model"]],
                                                **body})
    assert response.status_code == 200, response.text
    [claimed] = response.json()["jobs"]
    assert claimed["jobId"] == job["jobId"]
    return claimed


def token(claimed):
    return claimed["lease"]["token"]


def report(worker, job_id, what, lease, **body):
    return worker.post(f"/jobs/{job_id}/{what}", json={"leaseToken": lease, **body})


def read(client, job_id):
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def attempts(api, job_id):
    response = api.get(f"/jobs/{job_id}/attempts")
    assert response.status_code == 200, response.text
    return response.json()


def parse(value):
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_claim_hands_a_job_to_one_worker_under_a_lease(client, worker):
    job = create(client)
    claimed = claim(worker, job, leaseSeconds=30)
    assert claimed["status"] == "PROCESSING" and claimed["attempt"] == 1
    assert claimed["maxAttempts"] == 5 and claimed["attempts"] == 1
    expires = parse(claimed["lease"]["expiresAt"])
    assert dt.timedelta(seconds=29) < expires - parse(claimed["updatedAt"]) <= dt.timedelta(seconds=30)
    again = worker.post("/jobs/claim", json={"workerId": "w2", "models": [job["model"]]})
    assert again.status_code == 200 and again.json() == {"jobs": []}
    assert [(a["attempt"], a["workerId"], a["outcome"]) for a in attempts(client, job["jobId"])] == [
        (1, "w1", "running")]


def test_the_database_refuses_a_second_running_attempt(live, client, worker):
    job = create(client)
    claim(worker, job)
    with pytest.raises(INTEGRITY_ERRORS, match="(?i)unique"):
        live.sql("INSERT INTO job_attempts (job_id, attempt, worker_id, user_id, lease_hash,"
                 " lease_seconds, claimed_at, lease_expires_at, outcome) VALUES"
                 " (?, 2, 'x', 1, 'h', 60, '2026-01-01', '2099-01-01', 'running')",
                 (job["jobId"],))


def test_claims_take_the_lowest_priority_first_then_the_oldest(client, worker):
    shared = model()
    made = [create(client, model=shared, priority=priority) for priority in (500, 10, 500, 10)]
    response = worker.post("/jobs/claim", json={"workerId": "w", "models": [shared], "limit": 3})
    order = [job["jobId"] for job in response.json()["jobs"]]
    assert order == [made[1]["jobId"], made[3]["jobId"], made[0]["jobId"]]


def test_a_client_without_jobs_work_cannot_claim_or_report(client):
    assert_error(client.post("/jobs/claim", json={"workerId": "x"}), 403, "jobs.work")
    assert_error(client.post(f"/jobs/{'a' * 24}/complete", json={"leaseToken": "t"}), 403)


def test_complete_stores_the_results_the_owner_reads_and_a_repeat_is_recorded_once(
        client, worker):
    job = create(client)
    lease = token(claim(worker, job))
    results = {"responseData": {"summary": "short"}, "processingMetrics": {"totalTokens": 42}}
    first = report(worker, job["jobId"], "complete", lease, **results)
    assert first.status_code == 200 and first.json()["status"] == "PROCESSED"
    again = report(worker, job["jobId"], "complete", lease, **results)
    assert again.status_code == 200 and again.json() == first.json()
    seen = read(client, job["jobId"])
    assert (seen["status"], seen["responseData"], seen["processingMetrics"]) == (
        "PROCESSED", {"summary": "short"}, {"totalTokens": 42})
    assert [a["outcome"] for a in attempts(client, job["jobId"])] == ["processed"]


@pytest.mark.parametrize("what, body", [
    ("heartbeat", {}), ("complete", {"responseData": {"x": 1}}), ("release", {}),
    ("fail", {"error": {"type": "E", "message": "m"}})])
def test_a_token_that_is_not_the_current_lease_changes_nothing(client, worker, what, body):
    job = create(client)
    lease = token(claim(worker, job))
    before = read(client, job["jobId"])
    for wrong in ("made-up", lease[:-1] + ("A" if lease[-1] != "A" else "B")):
        assert_error(report(worker, job["jobId"], what, wrong, **body), 409, "lease")
    other = create(client)
    assert_error(report(worker, other["jobId"], what, lease, **body), 409)  # another job's
    assert read(client, job["jobId"]) == before
    assert [a["outcome"] for a in attempts(client, job["jobId"])] == ["running"]
    # Ended by another report, the lease fences every other report too.
    assert report(worker, job["jobId"], "release", lease).status_code == 200
    if what != "release":
        assert_error(report(worker, job["jobId"], what, lease, **body), 409)


def test_heartbeats_renew_leases_one_or_many(client, worker):
    job, other = create(client), create(client)
    lease, other_lease = token(claim(worker, job, leaseSeconds=10)), token(claim(worker, other))
    renewed = report(worker, job["jobId"], "heartbeat", lease, leaseSeconds=600)
    assert renewed.status_code == 200 and renewed.json()["cancelRequested"] is False
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert parse(renewed.json()["leaseExpiresAt"]) - now > dt.timedelta(seconds=590)
    bulk = worker.post("/jobs/heartbeat", json={"leases": [
        {"jobId": job["jobId"], "leaseToken": lease},
        {"jobId": other["jobId"], "leaseToken": "stale"},
        {"jobId": other["jobId"], "leaseToken": other_lease}]})
    assert bulk.status_code == 200
    assert [(state["jobId"], state["ok"]) for state in bulk.json()["leases"]] == [
        (job["jobId"], True), (other["jobId"], False), (other["jobId"], True)]
    assert set(bulk.json()["leases"][1]) == {"jobId", "ok"}


def test_a_retryable_failure_backs_off_and_the_last_one_is_final(client, worker):
    job = create(client, maxAttempts=2)
    lease = token(claim(worker, job))
    error = {"type": "RateLimit", "message": "slow down"}
    failed = report(worker, job["jobId"], "fail", lease, error=error)
    assert failed.status_code == 200
    body = failed.json()
    assert (body["status"], body["attempts"], body["errorData"]) == ("PENDING", 1, None)
    delay = parse(body["availableAt"]) - parse(body["updatedAt"])
    assert dt.timedelta(seconds=5) <= delay <= dt.timedelta(seconds=10)  # base 10 s, jittered
    again = worker.post("/jobs/claim", json={"workerId": "w", "models": [job["model"]]})
    assert again.json() == {"jobs": []}  # not due yet
    assert report(worker, job["jobId"], "fail", lease, error=error).status_code == 200  # repeat


def test_retry_after_and_non_retryable_failures(live, client, worker):
    job = create(client)
    body = report(worker, job["jobId"], "fail", token(claim(worker, job)),
                  error={"type": "E", "message": "m"}, retryAfterSeconds=0).json()
    assert body["status"] == "PENDING" and body["availableAt"] == body["updatedAt"]
    error = {"type": "BadPrompt", "message": "refused", "retryable": False, "details": {"c": 1}}
    final = report(worker, job["jobId"], "fail", token(claim(worker, job)), error=error).json()
    assert (final["status"], final["attempts"], final["errorData"]) == (
        "ERROR_PROCESSING", 2, error)
    assert [(a["outcome"], a["error"]["type"]) for a in attempts(client, job["jobId"])] == [
        ("retrying", "E"), ("failed", "BadPrompt")]


def test_the_last_attempt_failing_ends_the_job(client, worker):
    job = create(client, maxAttempts=1)
    body = report(worker, job["jobId"], "fail", token(claim(worker, job)),
                  error={"type": "E", "message": "still broken"}).json()
    assert (body["status"], body["errorData"]["message"]) == ("ERROR_PROCESSING", "still broken")


def test_a_release_gives_the_job_back_without_counting_the_attempt(client, worker):
    job = create(client)
    released = report(worker, job["jobId"], "release", token(claim(worker, job))).json()
    assert (released["status"], released["attempts"]) == ("PENDING", 0)
    assert released["availableAt"] == released["updatedAt"]
    assert claim(worker, job)["attempt"] == 1
    assert [a["outcome"] for a in attempts(client, job["jobId"])] == ["released", "running"]


def test_cancel_ends_a_pending_job_and_a_held_one_when_its_worker_reports(client, worker):
    pending = create(client)
    assert client.post(f"/jobs/{pending['jobId']}/cancel").json()["status"] == "CANCELED"
    held = create(client)
    lease = token(claim(worker, held))
    asked = client.post(f"/jobs/{held['jobId']}/cancel")
    assert asked.status_code == 200 and asked.json()["status"] == "PROCESSING"
    assert report(worker, held["jobId"], "heartbeat", lease).json()["cancelRequested"] is True
    done = report(worker, held["jobId"], "complete", lease, responseData={"late": True}).json()
    assert done["status"] == "CANCELED"
    assert [a["outcome"] for a in attempts(client, held["jobId"])] == ["canceled"]
    assert_error(client.post(f"/jobs/{held['jobId']}/cancel"), 409)  # nothing left to cancel


def test_cancel_is_the_owners(live, boss, client, worker):
    job = create(client)
    stranger = new_user(live, boss)
    assert_error(stranger.post(f"/jobs/{job['jobId']}/cancel"), 404)
    assert_error(stranger.get(f"/jobs/{job['jobId']}/attempts"), 404)
    assert boss.post(f"/jobs/{job['jobId']}/cancel").json()["status"] == "CANCELED"


def test_a_worker_reads_jobs_only_through_the_worker_routes(client, worker):
    job = create(client)
    assert_error(worker.get(f"/jobs/{job['jobId']}"), 404)
    assert worker.get(f"/jobs/{job['jobId']}/attempts").json() == []


def test_old_routes_stay_honest_about_held_jobs(boss, client, worker):
    job = create(client)
    lease = token(claim(worker, job))
    body = assert_error(client.patch(f"/jobs/{job['jobId']}", json={"status": "PROCESSED"}), 409)
    assert "holds the job" in body["message"]
    assert client.patch(f"/jobs/{job['jobId']}", json={"priority": 7}).status_code == 200
    moved = boss.patch(f"/jobs/{job['jobId']}", json={"status": "PENDING"})
    assert moved.status_code == 200
    assert_error(report(worker, job["jobId"], "complete", lease), 409)  # the admin ended it
    assert [a["outcome"] for a in attempts(boss, job["jobId"])] == ["canceled"]
    free = create(client)  # nobody holds it: the seed's PATCH flow works as before
    assert client.patch(f"/jobs/{free['jobId']}", json={"status": "PROCESSING"}).status_code == 200


def test_a_lapsed_lease_returns_the_job_and_fences_its_worker(live, boss, client, worker):
    job, last = create(client), create(client, maxAttempts=1)
    lease, last_lease = token(claim(worker, job, leaseSeconds=10)), token(
        claim(worker, last, leaseSeconds=10))
    time.sleep(10.5)  # the shortest lease there is: nothing to wait on but the clock
    # Nobody claims: the reap-leases task (triggered here, every 15 s otherwise) takes it back.
    assert boss.post("/api/jobs/reap-leases/trigger").status_code == 200
    assert wait_for(lambda: read(client, job["jobId"])["status"] == "PENDING", timeout=10)
    back = read(client, job["jobId"])
    assert back["attempts"] == 1
    ended = read(client, last["jobId"])
    assert ended["status"] == "ERROR_PROCESSING" and ended["errorData"]["type"] == "lease_expired"
    assert_error(report(worker, job["jobId"], "complete", lease), 409)
    assert_error(report(worker, last["jobId"], "complete", last_lease), 409)
    assert claim(worker, job)["attempt"] == 2
    assert [a["outcome"] for a in attempts(client, job["jobId"])] == ["lease_expired", "running"]


def test_a_waiting_claim_answers_soon_after_a_job_is_created(client, worker):
    shared = model()
    answer = {}

    def wait():
        answer["response"] = worker.post("/jobs/claim", json={
            "workerId": "waiter", "models": [shared], "waitSeconds": 20})
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # the claim is waiting
    job = create(client, model=shared)
    created = time.monotonic()
    waiter.join(timeout=25)
    assert [j["jobId"] for j in answer["response"].json()["jobs"]] == [job["jobId"]]
    assert answer["at"] - created < 1.0


def test_waiting_claims_are_capped(live, worker):
    """JOBSAPI_WAITING_CLAIMS is 2 here: a third waiting claim is answered at once."""
    shared = model()
    waiters = [threading.Thread(target=worker.post, args=("/jobs/claim",), kwargs={
        "json": {"workerId": f"w{n}", "models": [shared], "waitSeconds": 3}}) for n in range(2)]
    for thread in waiters:
        thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    third = worker.post("/jobs/claim", json={"workerId": "w3", "models": [shared],
                                             "waitSeconds": 3})
    assert time.monotonic() - started < 1.0
    assert (third.status_code, third.json(), third.headers["Retry-After"]) == (
        200, {"jobs": []}, "1")
    for thread in waiters:
        thread.join(timeout=10)


def test_api_keys_are_listed_without_secrets_revoked_and_refused(live, boss):
    user = new_user(live, boss, ["jobs.work"])
    api = key_for(live, boss, user, expiresInDays=30)
    assert set(api.key) == {"id", "name", "key", "createdAt", "expiresAt", "lastUsedAt"}
    assert api.get("/api/auth/me").json()["username"] == user.user["username"]
    listed = boss.get(f"/api/users/{user.user['id']}/api-keys").json()
    assert [key["id"] for key in listed] == [api.key["id"]]
    assert "key" not in listed[0] and listed[0]["lastUsedAt"] is not None
    [(stored,)] = live.sql("SELECT key_hash FROM api_keys WHERE id = ?", (api.key["id"],))
    assert api.key["key"] not in stored and api.key["key"] not in live.log_text()
    revoked = boss.delete(f"/api/users/{user.user['id']}/api-keys/{api.key['id']}")
    assert revoked.status_code == 204
    assert_error(api.get("/api/auth/me"), 401, "API key")
    assert boss.get(f"/api/users/{user.user['id']}/api-keys").json() == []
    assert_error(boss.delete(f"/api/users/{user.user['id']}/api-keys/{api.key['id']}"), 404)


def test_expired_keys_and_disabled_users_keys_are_refused(live, boss):
    user = new_user(live, boss)
    expiring, disabled = key_for(live, boss, user), key_for(live, boss, user)
    live.sql("UPDATE api_keys SET expires_at = '2000-01-01 00:00:00' WHERE id = ?",
             (expiring.key["id"],))
    assert wait_for(lambda: expiring.get("/api/auth/me").status_code == 401, timeout=5)
    assert disabled.get("/api/auth/me").status_code == 200
    assert boss.patch(f"/api/users/{user.user['id']}", json={"disabled": True}).status_code == 200
    assert_error(disabled.get("/api/auth/me"), 401)


def test_an_idempotency_key_replays_the_first_answer(client):
    key, body = secrets.token_hex(8), {**JOB, "model": model()}
    first = client.post("/jobs", json=body, headers={"Idempotency-Key": key})
    again = client.post("/jobs", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    listed = client.get("/jobs", params={"model": body["model"]}).json()
    assert [job["jobId"] for job in listed] == [first.json()["jobId"]]  # created once
    other = client.post("/jobs", json={**body, "priority": 9}, headers={"Idempotency-Key": key})
    assert_error(other, 409, "Idempotency-Key")
    batch = {"jobs": [body, body]}
    made = client.post("/jobs/batch", json=batch, headers={"Idempotency-Key": key + "b"})
    replayed = client.post("/jobs/batch", json=batch, headers={"Idempotency-Key": key + "b"})
    assert replayed.json() == made.json() and len(made.json()) == 2


def test_idempotency_keys_are_per_user(live, boss, client):
    key, body = secrets.token_hex(8), {**JOB, "model": model()}
    mine = client.post("/jobs", json=body, headers={"Idempotency-Key": key})
    theirs = new_user(live, boss).post("/jobs", json=body, headers={"Idempotency-Key": key})
    assert theirs.status_code == 201 and theirs.json()["jobId"] != mine.json()["jobId"]


def test_requests_get_no_5xx_and_the_documented_bounds(worker):
    for body in ({"workerId": ""}, {"workerId": "w", "limit": 0}, {"workerId": "w", "limit": 101},
                 {"workerId": "w", "leaseSeconds": 9}, {"workerId": "w", "waitSeconds": 26},
                 {"workerId": "w", "colour": "red"}):
        assert_error(worker.post("/jobs/claim", json=body), 400)
    assert_error(worker.post("/jobs/heartbeat", json={"leases": []}), 400)
    assert_error(worker.post(f"/jobs/{'a' * 24}/fail", json={"leaseToken": "t"}), 400)
    assert requests.post(worker.server.base_url + "/jobs/claim", json={"workerId": "w"},
                         timeout=10).status_code == 401


def test_a_waiting_claim_is_woken_by_a_job_made_in_another_process(tmp_path):
    """Two servers on one database, polling only every 30 s: a claim waiting on one gets
    the job created through the other, woken through the scheduler's bell."""
    first = LiveServer(tmp_path, JOBSAPI_CLAIM_POLL_SECONDS="30").start()
    second = LiveServer(tmp_path, JOBSAPI_CLAIM_POLL_SECONDS="30",
                        JOBSAPI_DATABASE=first.database)
    second.log_path = tmp_path / "second.log"
    try:
        second.start()
        boss = Api(first, "admin", ADMIN_PASSWORD)
        worker = key_for(first, boss, new_user(first, boss, ["jobs.work"]))
        client = new_user(second, Api(second, "admin", ADMIN_PASSWORD))
        shared, answer = model(), {}
        waiter = threading.Thread(target=lambda: answer.update(response=worker.post(
            "/jobs/claim", json={"workerId": "w", "models": [shared], "waitSeconds": 20}),
            at=time.monotonic()))
        waiter.start()
        time.sleep(0.5)  # the claim is waiting (and has looked once)
        job = create(client, model=shared)
        created = time.monotonic()
        waiter.join(timeout=25)
        assert [j["jobId"] for j in answer["response"].json()["jobs"]] == [job["jobId"]]
        # Woken, not found at the end of its 20 s (nor by a poll, every 30 s here).
        assert answer["at"] - created < 10
    finally:
        second.stop()
        first.stop()
