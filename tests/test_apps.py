"""Two apps in one process keep their own database, settings, caches and scheduler."""

from conftest import ADMIN_PASSWORD, wait_for
from jobsapi import create_app

JOB = {"operation": "summarize", "prompts": ["hi"], "model": "m", "requestData": {}}


def _app(directory, **config):
    directory.mkdir()
    return create_app({"JOBSAPI_DATABASE": str(directory / "jobs.db"),
                       "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD, **config})


def _login(client, username, password=ADMIN_PASSWORD):
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}


def test_two_apps_keep_their_own_database_settings_caches_and_scheduler(tmp_path):
    first = _app(tmp_path / "first", JOBSAPI_MAX_BATCH=2)
    second = _app(tmp_path / "second", JOBSAPI_MAX_BATCH=5)
    one, two = first.test_client(), second.test_client()
    admin_one, admin_two = _login(one, "admin"), _login(two, "admin")

    # Their own database: a job made through one is not in the other.
    created = one.post("/jobs", json=JOB, headers=admin_one)
    assert created.status_code == 201
    assert [job["jobId"] for job in one.get("/jobs", headers=admin_one).get_json()] == [
        created.get_json()["jobId"]]
    assert two.get("/jobs", headers=admin_two).get_json() == []

    # Their own settings: a batch of three is over the first's limit only.
    batch = {"jobs": [JOB] * 3}
    assert one.post("/jobs/batch", json=batch, headers=admin_one).status_code == 400
    assert two.post("/jobs/batch", json=batch, headers=admin_two).status_code == 201

    # Their own caches: user 2 is alice in the first and bob in the second.
    for client, admin, name in ((one, admin_one, "alice"), (two, admin_two, "bob")):
        made = client.post("/api/users", headers=admin,
                           json={"username": name, "password": f"{name}-password"})
        assert made.get_json()["id"] == 2
    alice, bob = _login(one, "alice", "alice-password"), _login(two, "bob", "bob-password")
    assert one.get("/api/auth/me", headers=alice).get_json()["username"] == "alice"
    assert two.get("/api/auth/me", headers=bob).get_json()["username"] == "bob"

    # Their own scheduler: a run triggered in one is logged there only.
    scheduler_one = first.extensions["jobsapi.scheduler"]
    assert scheduler_one is not second.extensions["jobsapi.scheduler"]
    try:
        assert one.post("/api/jobs/metadata-sync/trigger", headers=admin_one).status_code == 200
        assert wait_for(lambda: one.get("/api/jobs/metadata-sync/logs", headers=admin_one)
                        .get_json()["logs"][0]["result"] == "success", timeout=30)
        assert two.get("/api/jobs/metadata-sync/logs", headers=admin_two).get_json()["total"] == 0
    finally:
        scheduler_one.stop(grace=5)
