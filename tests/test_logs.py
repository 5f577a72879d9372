"""Logs through the real server: JSON lines, request ids, and no secret or payload in them."""

import json
import secrets

import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("logs"), JOBSAPI_LOG_FORMAT="json").start()
    yield server
    server.stop()


def lines(server):
    return [json.loads(line) for line in server.log_text().splitlines()
            if line.startswith("{")]


def test_every_line_is_a_json_object(live):
    Api(live).get("/jobs")
    text = live.log_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()
               and not line.startswith("Created the user")]
    assert entries
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= set(entry)


def test_request_ids_match_between_response_and_log(live):
    given = f"req-{secrets.token_hex(8)}"
    response = Api(live).get("/jobs", headers={"X-Request-ID": given})
    assert response.status_code == 401 and response.headers["X-Request-ID"] == given
    [access] = [e for e in lines(live) if e.get("request_id") == given]
    assert access["logger"] == "jobsapi.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/jobs", 401)
    assert access["route"] == "/jobs" and access["duration_ms"] >= 0

    insane = Api(live).get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    generated = insane.headers["X-Request-ID"]
    assert generated != "bad id\twith spaces" and len(generated) == 32
    assert any(e.get("request_id") == generated for e in lines(live))


def test_claims_and_outcomes_are_logged_with_their_request(live):
    admin = Api(live, "admin", ADMIN_PASSWORD)
    model = f"m-{secrets.token_hex(4)}"
    admin.post("/jobs", json={"operation": "o", "prompts": ["p"], "model": model,
                              "requestData": {}})
    claim = admin.post("/jobs/claim", json={"workerId": "w-logs", "models": [model]},
                       headers={"X-Request-ID": "claim-1234"})
    [job] = claim.json()["jobs"]
    admin.post(f"/jobs/{job['jobId']}/complete", json={"leaseToken": job["lease"]["token"]},
               headers={"X-Request-ID": "complete-1234"})
    entries = lines(live)
    [claimed] = [e for e in entries if e.get("job_id") == job["jobId"]
                 and e.get("request_id") == "claim-1234" and e["logger"] == "jobsapi.work"]
    assert (claimed["worker_id"], claimed["attempt"]) == ("w-logs", 1)
    assert claimed["user_id"] == admin.user["id"]
    [ended] = [e for e in entries if e.get("request_id") == "complete-1234"
               and e["logger"] == "jobsapi.work"]
    assert (ended["job_id"], ended["worker_id"], ended["outcome"]) == (
        job["jobId"], "w-logs", "processed")


def test_scheduled_runs_are_logged_with_their_fields(live):
    admin = Api(live, "admin", ADMIN_PASSWORD)
    assert admin.post("/api/jobs/metadata-sync/trigger").status_code == 200
    from conftest import wait_for
    wait_for(lambda: any(e.get("job_id") == "metadata-sync" and e.get("result")
                         for e in lines(live)), timeout=20)
    ended = next(e for e in lines(live) if e.get("job_id") == "metadata-sync" and e.get("result"))
    assert ended["result"] == "success" and isinstance(ended["run_id"], int)
    assert ended["duration_ms"] >= 0


def test_no_secret_or_payload_reaches_the_log(live):
    admin = Api(live, "admin", ADMIN_PASSWORD)
    password = f"pw-{secrets.token_hex(8)}"
    name = f"u-{secrets.token_hex(4)}"
    user = admin.post("/api/users", json={"username": name, "password": password}).json()
    client = Api(live, name, password)
    Api(live).post("/api/auth/login", json={"username": name, "password": password + "x"})
    key = admin.post(f"/api/users/{user['id']}/api-keys", json={"name": "k"}).json()["key"]
    prompt, data = f"prompt-{secrets.token_hex(8)}", f"data-{secrets.token_hex(8)}"
    client.post("/jobs", json={"operation": "o", "prompts": [prompt], "model": "m",
                               "requestData": {"secret": data}})
    Api(live).get("/jobs", headers={"Authorization": f"Bearer {key}"})
    client.post("/api/auth/refresh", json={"refreshToken": client.tokens["refreshToken"]})
    text = live.log_text()
    for secret in (password, key, prompt, data, client.tokens["accessToken"],
                   client.tokens["refreshToken"], ADMIN_PASSWORD):
        assert secret not in text


def test_a_500_body_quotes_the_request_id(tmp_path):
    import jobsapi

    app = jobsapi.create_app({"JOBSAPI_DATABASE": str(tmp_path / "x.db"),
                              "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    response = app.test_client().get("/boom", headers={"X-Request-ID": "boom-42"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "boom-42"
    assert "request id boom-42" in response.get_json()["message"]
