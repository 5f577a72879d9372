"""Who may call what: every route against eight kinds of caller, over a real server."""

import json
import secrets
import sqlite3
import time
import uuid
from typing import Callable, NamedTuple

import jwt as pyjwt
import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error

CALLERS = ("anonymous", "expired", "other-key", "alg-none", "disabled",
           "client-a", "client-b", "admin")
REJECTED = CALLERS[:5]
JOB = {"operation": "summarize", "prompts": ["p"], "model": "m", "requestData": {"k": 1}}
TASK, SETTINGS, WORK = "metadata-sync", "settings.update", "jobs.work"
MISSING = secrets.token_hex(12)  # a well-formed job id no job has


class Route(NamedTuple):
    guard: str  # "public", "user", "owner" (client A's job) or the permission it needs
    status: int  # what an allowed caller gets
    request: Callable  # world -> (path, JSON body or None)
    stranger: int = 0  # owner routes: what client B gets, the same as for a missing job


def fixed(path, body=None):
    return lambda world: (path, body)


ROUTES = {
    ("GET", "/health"): Route("public", 200, fixed("/health")),
    ("GET", "/openapi.json"): Route("public", 200, fixed("/openapi.json")),
    ("POST", "/api/auth/login"): Route("public", 200, lambda w: ("/api/auth/login", w.credentials())),
    ("POST", "/api/auth/refresh"): Route(
        "public", 200, lambda w: ("/api/auth/refresh", {"refreshToken": w.refresh_token()})),
    ("POST", "/api/auth/logout"): Route(
        "public", 204, lambda w: ("/api/auth/logout", {"refreshToken": w.refresh_token()})),
    ("GET", "/api/auth/me"): Route("user", 200, fixed("/api/auth/me")),
    ("GET", "/api/users"): Route("users.manage", 200, fixed("/api/users")),
    ("POST", "/api/users"): Route("users.manage", 201, lambda w: ("/api/users", w.new_user_body())),
    ("GET", "/api/users/{user_id}"): Route(
        "users.manage", 200, lambda w: (f"/api/users/{w.carol.user['id']}", None)),
    ("PATCH", "/api/users/{user_id}"): Route(
        "users.manage", 200, lambda w: (f"/api/users/{w.carol.user['id']}", {"permissions": []})),
    ("GET", "/jobs"): Route("user", 200, fixed("/jobs")),
    ("POST", "/jobs"): Route("user", 201, fixed("/jobs", JOB)),
    ("POST", "/jobs/batch"): Route("user", 201, fixed("/jobs/batch", {"jobs": [JOB, JOB]})),
    ("PATCH", "/jobs/batch"): Route(
        "owner", 200, lambda w: ("/jobs/batch", {"jobs": [{"jobId": w.job(), "priority": 7}]}), 400),
    ("DELETE", "/jobs/batch"): Route(
        "owner", 204, lambda w: ("/jobs/batch", {"jobIds": [w.job()]}), 400),
    ("GET", "/jobs/summary"): Route("user", 200, fixed("/jobs/summary")),
    ("GET", "/jobs/{job_id}"): Route("owner", 200, lambda w: (f"/jobs/{w.job()}", None), 404),
    ("PATCH", "/jobs/{job_id}"): Route(
        "owner", 200, lambda w: (f"/jobs/{w.job()}", {"status": "PROCESSING"}), 404),
    ("DELETE", "/jobs/{job_id}"): Route("owner", 204, lambda w: (f"/jobs/{w.job()}", None), 404),
    ("GET", "/api/jobs"): Route(SETTINGS, 200, fixed("/api/jobs")),
    ("GET", "/api/jobs/logs/all"): Route(SETTINGS, 200, fixed("/api/jobs/logs/all")),
    ("GET", "/api/jobs/{job_id}"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}")),
    ("PATCH", "/api/jobs/{job_id}"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}", {"enabled": True})),
    ("POST", "/api/jobs/{job_id}/stop"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}/stop")),
    ("POST", "/api/jobs/{job_id}/start"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}/start")),
    ("POST", "/api/jobs/{job_id}/trigger"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}/trigger")),
    ("GET", "/api/jobs/{job_id}/logs"): Route(SETTINGS, 200, fixed(f"/api/jobs/{TASK}/logs")),
    ("GET", "/api/activities"): Route("activities.read", 200, fixed("/api/activities")),
    ("GET", "/api/users/{user_id}/api-keys"): Route(
        "users.manage", 200, lambda w: (f"/api/users/{w.carol.user['id']}/api-keys", None)),
    ("POST", "/api/users/{user_id}/api-keys"): Route(
        "users.manage", 201, lambda w: (f"/api/users/{w.carol.user['id']}/api-keys", {"name": "k"})),
    ("DELETE", "/api/users/{user_id}/api-keys/{key_id}"): Route(
        "users.manage", 204,
        lambda w: (f"/api/users/{w.carol.user['id']}/api-keys/{w.api_key()}", None)),
    ("POST", "/jobs/claim"): Route(
        WORK, 200, lambda w: ("/jobs/claim", {"workerId": "w", "models": [secrets.token_hex(4)]})),
    ("POST", "/jobs/heartbeat"): Route(WORK, 200, lambda w: ("/jobs/heartbeat", {"leases": [
        {"jobId": job_id, "leaseToken": token} for job_id, token in [w.leased()]]})),
    ("POST", "/jobs/{job_id}/heartbeat"): Route(WORK, 200, lambda w: w.report("heartbeat")),
    ("POST", "/jobs/{job_id}/complete"): Route(WORK, 200, lambda w: w.report("complete")),
    ("POST", "/jobs/{job_id}/fail"): Route(WORK, 200, lambda w: w.report(
        "fail", error={"type": "Timeout", "message": "the model did not answer"})),
    ("POST", "/jobs/{job_id}/release"): Route(WORK, 200, lambda w: w.report("release")),
    ("POST", "/jobs/{job_id}/cancel"): Route(
        "owner", 200, lambda w: (f"/jobs/{w.job()}/cancel", None), 404),
    ("GET", "/jobs/{job_id}/attempts"): Route(
        "owner", 200, lambda w: (f"/jobs/{w.job()}/attempts", None), 404),
    ("GET", "/jobs/stats"): Route(WORK, 200, fixed("/jobs/stats")),
    ("GET", "/api/workers"): Route(WORK, 200, fixed("/api/workers")),
    ("GET", "/api/model-limits"): Route(SETTINGS, 200, fixed("/api/model-limits")),
    ("PUT", "/api/model-limits/{model}"): Route(
        SETTINGS, 200, fixed("/api/model-limits/authz-model", {"maxConcurrency": 9})),
    ("DELETE", "/api/model-limits/{model}"): Route(SETTINGS, 204, lambda w: (
        f"/api/model-limits/{w.model_limit()}", None)),
    ("GET", "/metrics"): Route("metrics.read", 200, fixed("/metrics")),
}


def forge(key, subject, lifetime=600, algorithm="HS256"):
    """An access token with the claims flask-jwt-extended writes, signed as asked."""
    now = int(time.time())
    start = min(now, now + lifetime - 600)
    claims = {"fresh": False, "iat": start, "jti": str(uuid.uuid4()), "type": "access",
              "sub": str(subject), "nbf": start, "csrf": str(uuid.uuid4()), "exp": now + lifetime}
    return pyjwt.encode(claims, key, algorithm=algorithm)


class World:
    """A private server, its users and callers; every response any of them received."""

    def __init__(self, server):
        self.server = server
        self.responses = []
        self.passwords = {ADMIN_PASSWORD}
        self.admin = self.api("admin", ADMIN_PASSWORD)
        self.a, self.b, self.carol = self.new_user(), self.new_user(), self.new_user()
        dave = self.new_user(role="admin")  # a disabled admin, still holding a valid token
        response = self.admin.patch(f"/api/users/{dave.user['id']}", json={"disabled": True})
        assert response.status_code == 200 and response.json()["disabled"] is True
        self.key = (server.database.parent / "secret_key").read_text().strip()
        admin_id = self.admin.user["id"]
        self.callers = {
            "anonymous": self.api(),
            "expired": self.api(token=forge(self.key, admin_id, lifetime=-60)),
            "other-key": self.api(token=forge(secrets.token_urlsafe(48), admin_id)),
            "alg-none": self.api(token=forge(None, admin_id, algorithm="none")),
            "disabled": dave, "client-a": self.a, "client-b": self.b, "admin": self.admin,
        }

    def api(self, username=None, password=None, token=None):
        api = Api(self.server)
        api.session.hooks["response"].append(lambda response, *_, **__: self.responses.append(response))
        if username:
            api.login(username, password)
            api.password = password
        if token:
            api.session.headers["Authorization"] = f"Bearer {token}"
        return api

    def new_user_body(self, role="client"):
        password = secrets.token_urlsafe(12)
        self.passwords.add(password)
        return {"username": f"u-{secrets.token_hex(4)}", "password": password, "role": role}

    def new_user(self, role="client"):
        body = self.new_user_body(role)
        assert self.admin.post("/api/users", json=body).status_code == 201
        return self.api(body["username"], body["password"])

    def credentials(self):
        return {"username": self.carol.user["username"], "password": self.carol.password}

    def refresh_token(self):
        return self.api(**self.credentials()).tokens["refreshToken"]

    def job(self, owner=None):
        response = (owner or self.a).post("/jobs", json=JOB)
        assert response.status_code == 201, response.text
        self.last_job = response.json()["jobId"]
        return self.last_job

    def leased(self):
        """A job of client A's, claimed by the admin (who holds jobs.work): (id, token)."""
        model = secrets.token_hex(4)
        job_id = self.job_of(model)
        response = self.admin.post("/jobs/claim", json={"workerId": "authz", "models": [model]})
        assert response.status_code == 200, response.text
        return job_id, response.json()["jobs"][0]["lease"]["token"]

    def report(self, what, **fields):
        job_id, token = self.leased()
        return f"/jobs/{job_id}/{what}", {"leaseToken": token, **fields}

    def job_of(self, model):
        response = self.a.post("/jobs", json={**JOB, "model": model})
        assert response.status_code == 201, response.text
        return response.json()["jobId"]

    def model_limit(self):
        model = f"authz-{secrets.token_hex(4)}"
        assert self.admin.put(f"/api/model-limits/{model}", json={}).status_code == 200
        return model

    def api_key(self):
        response = self.admin.post(f"/api/users/{self.carol.user['id']}/api-keys",
                                   json={"name": "to revoke"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def snapshot(self):
        """What a rejected request must not change: jobs and their attempts, users and
        their keys, admin changes to tasks."""
        with sqlite3.connect(f"file:{self.server.database}?mode=ro", uri=True) as conn:
            return [conn.execute(sql).fetchall() for sql in (
                "SELECT * FROM jobs ORDER BY id", "SELECT * FROM users ORDER BY id",
                "SELECT * FROM job_attempts ORDER BY id", "SELECT * FROM api_keys ORDER BY id",
                "SELECT * FROM model_limits ORDER BY model",
                "SELECT id, schedule, enabled, stopped FROM scheduled_jobs ORDER BY id")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("authz")).start()
    try:
        yield World(server)
    finally:
        server.stop()


def expected_status(route, caller):
    if route.guard == "public":
        return route.status
    if caller in REJECTED:
        return 401
    if route.guard == "owner" and caller == "client-b":
        return route.stranger
    if route.guard in ("user", "owner") or caller == "admin":
        return route.status
    return 403


def test_the_table_covers_every_documented_route(world):
    document = world.admin.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert len(documented) >= 25
    assert set(ROUTES) == documented | {("GET", "/openapi.json")}


def test_a_forged_token_with_the_real_key_and_claims_is_accepted(world):
    # The counterpart of the forged callers: the claims and key they use are the real ones.
    forged = world.api(token=forge(world.key, world.a.user["id"]))
    response = forged.get("/api/auth/me")
    assert response.status_code == 200 and response.json()["username"] == world.a.user["username"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
def test_authorization_matrix(world, route, caller):
    method, spec = route[0], ROUTES[route]
    path, body = spec.request(world)
    expected = expected_status(spec, caller)
    before = world.snapshot()
    response = world.callers[caller].request(method, path, json=body)
    if expected < 400:
        assert response.status_code == expected, response.text
        if route == ("POST", "/api/auth/logout") and caller not in REJECTED:
            # Logout revoked the access token the caller sent: it logs in again.
            api = world.callers[caller]
            assert_error(api.get("/api/auth/me"), 401, "revoked")
            api.login(api.user["username"], api.password)
        return
    assert_error(response, expected)
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert world.snapshot() == before
    if spec.guard == "owner" and caller == "client-b":  # as if the job did not exist
        job_id = world.last_job
        missing = world.b.request(method, path.replace(job_id, MISSING),
                                  json=json.loads(json.dumps(body).replace(job_id, MISSING)))
        assert (response.status_code, response.text.replace(job_id, MISSING)) == \
            (missing.status_code, missing.text)


def template(value, **ids):
    text = json.dumps(value)
    for name, job_id in ids.items():
        text = text.replace("{%s}" % name, job_id)
    return json.loads(text)


STRANGER_REQUESTS = {
    "read": ("GET", "/jobs/{theirs}", None),
    "update": ("PATCH", "/jobs/{theirs}", {"priority": 9, "responseData": {"x": 1}}),
    "move": ("PATCH", "/jobs/{theirs}", {"status": "PENDING"}),
    "delete": ("DELETE", "/jobs/{theirs}", None),
    "batch-update": ("PATCH", "/jobs/batch", {"jobs": [{"jobId": "{mine}", "priority": 9},
                                                       {"jobId": "{theirs}", "priority": 9}]}),
    "batch-delete": ("DELETE", "/jobs/batch", {"jobIds": ["{mine}", "{theirs}"]}),
}


@pytest.mark.parametrize("state", ["PENDING", "CANCELED"])
@pytest.mark.parametrize("name", STRANGER_REQUESTS)
def test_client_b_cannot_tell_client_a_jobs_from_missing_ones(world, name, state):
    theirs, mine = world.job(), world.job(world.b)
    if state != "PENDING":
        assert world.a.patch(f"/jobs/{theirs}", json={"status": state}).status_code == 200
    seen_by_a, seen_by_b = world.a.get(f"/jobs/{theirs}").json(), world.b.get(f"/jobs/{mine}").json()
    method, path, body = STRANGER_REQUESTS[name]
    answers = [world.b.request(method, template(path, theirs=job_id, mine=mine),
                               json=template(body, theirs=job_id, mine=mine))
               for job_id in (theirs, MISSING)]
    assert_error(answers[0], 400 if "batch" in name else 404)
    assert (answers[0].status_code, answers[0].text.replace(theirs, MISSING)) == \
        (answers[1].status_code, answers[1].text)
    assert world.a.get(f"/jobs/{theirs}").json() == seen_by_a
    assert world.b.get(f"/jobs/{mine}").json() == seen_by_b


def test_client_b_never_lists_or_counts_client_a_jobs(world):
    ref, unused = secrets.token_hex(6), secrets.token_hex(6)
    theirs = {world.job() for _ in range(2)}
    for job_id in theirs:
        assert world.a.patch(f"/jobs/{job_id}", json={"clientReference": {"ref": ref}}).ok
    a_id, b_id = world.a.user["id"], world.b.user["id"]
    listed = world.admin.get("/jobs", params={"clientId": a_id, "clientReference.ref": ref})
    assert {job["jobId"] for job in listed.json()} == theirs  # the filter does find them
    for query in ({}, {"limit": 500}, {"clientId": a_id}, {"clientReference.ref": ref},
                  {"clientId": a_id, "clientReference.ref": ref, "operation": JOB["operation"]}):
        jobs = world.b.get("/jobs", params=query).json()
        assert not theirs & {job["jobId"] for job in jobs}
        assert {job["clientId"] for job in jobs} <= {b_id}
    for route in ("/jobs", "/jobs/summary"):
        assert world.b.get(route, params={"clientReference.ref": ref}).json() == \
            world.b.get(route, params={"clientReference.ref": unused}).json()
        assert world.b.get(route, params={"clientId": a_id}).json() == world.b.get(route).json()
    assert world.b.get("/jobs/summary", params={"clientReference.ref": ref}).json()["total"] == 0


def refresh(world, token):
    return world.callers["anonymous"].post("/api/auth/refresh", json={"refreshToken": token})


def test_a_refresh_token_used_twice_revokes_its_chain(world):
    first, other = world.api(**world.credentials()).tokens, world.api(**world.credentials()).tokens
    second = refresh(world, first["refreshToken"])
    third = refresh(world, second.json()["refreshToken"])
    assert second.status_code == third.status_code == 200
    assert_error(refresh(world, first["refreshToken"]), 401)
    for token in (third.json()["refreshToken"], second.json()["refreshToken"]):
        assert_error(refresh(world, token), 401)
    assert refresh(world, other["refreshToken"]).status_code == 200  # another login's chain


def test_no_password_or_token_hash_in_any_response_the_log_or_the_database(world):
    # Put passwords through every route that takes one, including the failure paths.
    eve, new_password, wrong = world.new_user(), secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    world.passwords |= {new_password, wrong}
    eve_id = eve.user["id"]
    assert world.admin.patch(f"/api/users/{eve_id}", json={"password": new_password}).ok
    assert_error(world.callers["anonymous"].post(
        "/api/auth/login", json={"username": eve.user["username"], "password": wrong}), 401)
    eve = world.api(eve.user["username"], new_password)
    assert world.callers["anonymous"].post(
        "/api/auth/logout", json={"refreshToken": eve.tokens["refreshToken"]}).status_code == 204
    assert world.admin.get("/api/activities", params={"limit": 100}).ok
    assert world.admin.get(f"/api/users/{eve_id}").ok

    with sqlite3.connect(f"file:{world.server.database}?mode=ro", uri=True) as conn:
        dump = "\n".join(conn.iterdump())
        token_hashes = [row[0] for row in conn.execute("SELECT token_hash FROM refresh_tokens")]
        password_hashes = [row[0] for row in conn.execute("SELECT password_hash FROM users")]
    bodies = [response.text for response in world.responses]
    issued = [response.json() for response in world.responses
              if response.ok and response.url.endswith(("/api/auth/login", "/api/auth/refresh"))]
    refresh_tokens = [pair["refreshToken"] for pair in issued]
    access_tokens = [pair["accessToken"] for pair in issued]
    assert len(world.passwords) >= 8 and len(token_hashes) >= len(refresh_tokens) >= 7
    log = world.server.log_text()
    assert "Traceback" not in log
    for secret in [*world.passwords, *token_hashes, *password_hashes]:
        assert secret not in log
        assert not any(secret in body for body in bodies)
    for token in [*refresh_tokens, *access_tokens]:
        assert token not in log and token not in dump
        assert sum(token in body for body in bodies) == 1  # only the answer that issued it
    for password in world.passwords:
        assert password not in dump
