"""GET /metrics through the real server: the Prometheus text format, its permission, and
figures that move as jobs are created, claimed and ended and as scheduled runs happen."""

import secrets

import pytest
from prometheus_client.parser import text_string_to_metric_families

import jobsapi
from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, wait_for

JOB = {"operation": "summarize", "prompts": ["Summarize this."], "requestData": {"k": 1}}

# Each family, with the labels of its samples (histograms: besides `le`).
FAMILIES = {
    "jobsapi_jobs": {"status", "model"},
    "jobsapi_oldest_pending_seconds": {"model"},
    "jobsapi_leases_active": {"model"},
    "jobsapi_leases_expired": {"model"},
    "jobsapi_scheduled_job_last_success_timestamp_seconds": {"job"},
    "jobsapi_scheduled_job_running": {"job"},
    "jobsapi_scheduled_job_enabled": {"job"},
    "jobsapi_http_requests": {"method", "route", "status", "instance"},
    "jobsapi_http_request_duration_seconds": {"method", "route", "instance"},
    "jobsapi_job_claims": {"model", "instance"},
    "jobsapi_job_outcomes": {"model", "outcome", "instance"},
    "jobsapi_job_wait_seconds": {"model", "instance"},
    "jobsapi_job_run_seconds": {"model", "instance"},
    "jobsapi_llm_tokens": {"model", "kind", "instance"},
    "jobsapi_scheduled_runs": {"job", "result", "instance"},
    "jobsapi_scheduled_run_seconds": {"job", "instance"},
    "jobsapi_db_busy": {"instance"},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("metrics")).start()
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


def key_for(live, boss, user):
    response = boss.post(f"/api/users/{user.user['id']}/api-keys", json={"name": "k"})
    assert response.status_code == 201, response.text
    api = Api(live)
    api.session.headers["Authorization"] = f"Bearer {response.json()['key']}"
    return api


@pytest.fixture(scope="module")
def prometheus(live, boss):
    """What Prometheus scrapes with: an API key of a user holding metrics.read."""
    return key_for(live, boss, new_user(live, boss, ["metrics.read"]))


@pytest.fixture(scope="module")
def worker(live, boss):
    return key_for(live, boss, new_user(live, boss, ["jobs.work"]))


def scrape(api):
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families, name, sample_name=None, **labels):
    """The sample of family `name` whose labels include `labels` (0 when there is none)."""
    family = families[name]
    for sample in family.samples:
        if (sample.name == (sample_name or sample.name)
                and all(sample.labels.get(k) == v for k, v in labels.items())):
            if sample_name or sample.name in (name, f"{name}_total"):
                return sample.value
    return 0


def test_anonymous_is_401_and_a_user_without_the_permission_403(live, boss):
    assert_error(Api(live).get("/metrics"), 401)
    assert_error(new_user(live, boss).get("/metrics"), 403, "metrics.read")


def test_every_family_is_there_with_its_labels(live, boss, prometheus, worker):
    model = f"m-{secrets.token_hex(4)}"
    assert boss.post("/jobs", json={**JOB, "model": model}).status_code == 201
    response = worker.post("/jobs/claim", json={"workerId": "w1", "models": [model]})
    [job] = response.json()["jobs"]
    worker.post(f"/jobs/{job['jobId']}/complete",
                json={"leaseToken": job["lease"]["token"], "processingMetrics": {"inputTokens": 3}})
    boss.post("/api/jobs/prune-job-logs/trigger")
    wait_for(lambda: value(scrape(prometheus), "jobsapi_scheduled_runs",
                           job="prune-job-logs") >= 1, timeout=20)
    families = scrape(prometheus)
    for name, labels in FAMILIES.items():
        assert name in families, name
        samples = families[name].samples
        assert samples, name
        for sample in samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_figures_move_with_jobs_and_runs(live, boss, prometheus, worker):
    model = f"m-{secrets.token_hex(4)}"
    client = new_user(live, boss)
    for _ in range(3):
        assert client.post("/jobs", json={**JOB, "model": model}).status_code == 201
    families = scrape(prometheus)
    assert value(families, "jobsapi_jobs", status="PENDING", model=model) == 3
    assert value(families, "jobsapi_jobs", status="PROCESSING", model=model) == 0
    assert value(families, "jobsapi_oldest_pending_seconds", model=model) >= 0

    response = worker.post("/jobs/claim", json={"workerId": "w1", "models": [model], "limit": 2})
    first, second = response.json()["jobs"]
    families = scrape(prometheus)
    assert value(families, "jobsapi_job_claims", model=model) == 2
    assert value(families, "jobsapi_job_wait_seconds", "jobsapi_job_wait_seconds_count",
                 model=model) == 2
    assert value(families, "jobsapi_jobs", status="PENDING", model=model) == 1
    assert value(families, "jobsapi_jobs", status="PROCESSING", model=model) == 2
    assert value(families, "jobsapi_leases_active", model=model) == 2
    assert value(families, "jobsapi_leases_expired", model=model) == 0

    worker.post(f"/jobs/{first['jobId']}/complete", json={
        "leaseToken": first["lease"]["token"], "responseData": {"ok": True},
        "processingMetrics": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120}})
    worker.post(f"/jobs/{second['jobId']}/fail", json={
        "leaseToken": second["lease"]["token"],
        "error": {"type": "bad", "message": "no", "retryable": False}})
    families = scrape(prometheus)
    assert value(families, "jobsapi_job_outcomes", model=model, outcome="processed") == 1
    assert value(families, "jobsapi_job_outcomes", model=model, outcome="failed") == 1
    assert value(families, "jobsapi_job_run_seconds", "jobsapi_job_run_seconds_count",
                 model=model) == 2
    assert value(families, "jobsapi_llm_tokens", model=model, kind="input") == 100
    assert value(families, "jobsapi_llm_tokens", model=model, kind="output") == 20
    assert value(families, "jobsapi_llm_tokens", model=model, kind="total") == 120
    assert value(families, "jobsapi_jobs", status="PROCESSED", model=model) == 1
    assert value(families, "jobsapi_jobs", status="ERROR_PROCESSING", model=model) == 1
    assert value(families, "jobsapi_leases_active", model=model) == 0
    # Route templates, never paths with ids.
    routes = {s.labels["route"] for s in families["jobsapi_http_requests"].samples}
    assert "/jobs/<job_id>/complete" in routes or "/jobs/<jobid:job_id>/complete" in routes \
        or any(r.startswith("/jobs/<") and r.endswith("/complete") for r in routes)
    assert not any(first["jobId"] in route for route in routes)
    assert value(families, "jobsapi_http_requests", method="POST", route="/jobs/claim",
                 status="200") >= 1

    before = value(families, "jobsapi_scheduled_runs", job="metadata-sync", result="success")
    assert boss.post("/api/jobs/metadata-sync/trigger").status_code == 200
    wait_for(lambda: value(scrape(prometheus), "jobsapi_scheduled_runs", job="metadata-sync",
                           result="success") == before + 1, timeout=20)
    families = scrape(prometheus)
    assert value(families, "jobsapi_scheduled_job_last_success_timestamp_seconds",
                 job="metadata-sync") > 0
    assert value(families, "jobsapi_scheduled_job_running", job="metadata-sync") == 0
    assert value(families, "jobsapi_scheduled_job_enabled", job="metadata-sync") == 1
    assert value(families, "jobsapi_scheduled_run_seconds", "jobsapi_scheduled_run_seconds_count",
                 job="metadata-sync") == before + 1


def test_public_metrics_need_no_credential_and_say_so(tmp_path):
    server = LiveServer(tmp_path, JOBSAPI_METRICS_PUBLIC="true").start()
    try:
        assert "jobsapi_jobs" in scrape(Api(server))
        operation = Api(server).get("/openapi.json").json()["paths"]["/metrics"]["get"]
        assert "security" not in operation and "401" not in operation["responses"]
    finally:
        server.stop()


def test_each_app_counts_its_own_requests(tmp_path):
    apps = [jobsapi.create_app({"JOBSAPI_DATABASE": str(tmp_path / f"{n}.db"),
                                "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                "JOBSAPI_METRICS_PUBLIC": True}) for n in "ab"]
    for _ in range(3):
        apps[0].test_client().get("/health")
    counts = []
    for app in apps:
        text = app.test_client().get("/metrics").get_data(as_text=True)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        counts.append(value(families, "jobsapi_http_requests", route="/health"))
    assert counts == [3, 0]


def test_a_busy_database_is_counted(tmp_path):
    app = jobsapi.create_app({"JOBSAPI_DATABASE": str(tmp_path / "busy.db"),
                              "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with app.test_request_context("/jobs"):
        from jobsapi import rest
        import peewee as pw
        assert rest.database_error(pw.OperationalError("database is locked"))[1] == 503
    families = {f.name: f for f in text_string_to_metric_families(
        app.extensions["jobsapi.metrics"].render().decode())}
    assert value(families, "jobsapi_db_busy") == 1
