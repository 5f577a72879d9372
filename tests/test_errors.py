"""One error shape everywhere, /health, and the OpenAPI document and docs page."""

import json
import re

import pytest
import requests

from conftest import ADMIN_PASSWORD, LiveServer, assert_error
from jobsapi import create_app
from jobsapi.ids import JOB_ID_PATTERN
from schedules.registry import JOB_ID_RE as SCHEDULED_JOB_ID_RE

JOB = {"operation": "o", "prompts": ["p"], "model": "m", "requestData": {}}
# The docs, their files and redirects, and the dashboard (HTML pages for browsers, no
# part of the JSON API the document describes).
UNDOCUMENTED = ("static", "api-docs.", "docs.", "dashboard.")


def test_unknown_route_is_404_json(anonymous):
    response = anonymous.get("/no/such/route")
    assert response.headers["Content-Type"].startswith("application/json")
    assert_error(response, 404)


def test_wrong_method_is_405_with_allow(make_user):
    alice = make_user()
    response = alice.request("PUT", "/jobs", json=JOB)
    assert_error(response, 405)
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed and "PUT" not in allowed


def test_a_body_over_the_limit_is_413(tmp_path):
    live = LiveServer(tmp_path, JOBSAPI_MAX_BODY="1024")
    try:
        live.start()
        url = live.base_url + "/api/auth/login"
        small = {"username": "a" * 64, "password": "x" * 256}
        assert_error(requests.post(url, json=small, timeout=30), 401)
        big = {"username": "admin", "password": "x" * 2000}
        assert_error(requests.post(url, json=big, timeout=30), 413)
        chunks = iter([b'{"username": "admin", "password": "', b"x" * 2000, b'"}'])
        headers = {"Content-Type": "application/json"}
        chunked = requests.post(url, data=chunks, headers=headers, timeout=30)
        assert_error(chunked, 413)
    finally:
        live.stop()


def test_the_default_limit_lets_the_same_body_reach_validation(anonymous):
    body = {"username": "admin", "password": "x" * 2000}
    error = assert_error(anonymous.post("/api/auth/login", json=body), 400)
    assert "password" in error["errors"]


def test_the_default_limit_is_16_mib(anonymous):
    body = {"username": "admin", "password": "x" * (16 * 1024 * 1024)}
    assert_error(anonymous.post("/api/auth/login", json=body), 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_non_json_body_is_415(anonymous, content_type):
    body = json.dumps({"username": "someone", "password": "whatever"})
    response = anonymous.post("/api/auth/login", data=body, headers={"Content-Type": content_type})
    assert_error(response, 415)


@pytest.mark.parametrize(
    "raw",
    [
        '{"username": "someone", "password": ',
        "{'username': 'someone'}",
        '{"username": NaN, "password": "x"}',
        '{"username": "someone", "password": Infinity}',
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ],
    ids=["truncated", "single-quotes", "nan", "infinity", "nested-lists", "nested-objects"],
)
def test_bad_json_is_400(anonymous, raw):
    headers = {"Content-Type": "application/json"}
    response = anonymous.post("/api/auth/login", data=raw, headers=headers)
    assert_error(response, 400)
    assert anonymous.get("/health").status_code == 200


@pytest.mark.parametrize("raw", ['{"temperature": NaN}', "[" * 10_000 + "]" * 10_000])
def test_bad_json_is_400_on_an_authenticated_route_and_stores_nothing(make_user, raw):
    alice = make_user()
    body = json.dumps(JOB)[:-1] + ", " + raw[1:] if raw.startswith("{") else raw
    response = alice.post("/jobs", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400)
    assert alice.get("/jobs").json() == []


def test_health_needs_no_auth(anonymous):
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.fixture
def openapi(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def documented_rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(UNDOCUMENTED):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            yield path, sorted(rule.methods - {"HEAD", "OPTIONS"})


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_openapi_is_version_3(openapi):
    assert openapi["openapi"].startswith("3.")
    assert openapi["info"]["title"]


def test_openapi_documents_every_route_and_method(app, openapi):
    rules = list(documented_rules(app))
    assert len(rules) >= 10
    for path, methods in rules:
        assert path in openapi["paths"], path
        for method in methods:
            assert method.lower() in openapi["paths"][path], (path, method)


def test_openapi_documents_the_bearer_scheme_on_protected_routes(openapi):
    scheme = openapi["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    public = {"/health", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"}
    for path, method, operation in operations(openapi):
        if path in public:  # no token needed; logout takes one optionally, to revoke it
            assert {} in operation.get("security", [{}]), (path, method)
        else:
            assert operation.get("security") == [{"bearerAuth": []}], (path, method)
            assert "401" in operation["responses"], (path, method)


def test_openapi_documents_400_for_bodies_and_never_422(openapi):
    assert "422" not in json.dumps(openapi)
    with_body = [(p, m, o) for p, m, o in operations(openapi) if "requestBody" in o]
    assert len(with_body) >= 8
    for path, method, operation in with_body:
        assert {"400", "415"} <= set(operation["responses"]), (path, method)


def test_docs_page_is_html(anonymous):
    response = anonymous.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "swagger" in response.text.lower() and "openapi.json" in response.text


def test_openapi_lists_each_status_with_no_catch_all(openapi):
    error = openapi["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "status", "message"}
    for path, method, operation in operations(openapi):
        assert "default" not in operation["responses"], (path, method)
        assert "503" in operation["responses"], (path, method)  # the database stays busy


def test_openapi_path_ids_carry_their_patterns(openapi):
    def schema(path):
        return openapi["paths"][path]["parameters"][0]["schema"]

    assert schema("/jobs/{job_id}")["pattern"] == JOB_ID_PATTERN
    assert schema("/api/jobs/{job_id}/trigger")["pattern"] == SCHEDULED_JOB_ID_RE.pattern
    assert schema("/api/users/{user_id}")["maximum"] == 2**63 - 1


def test_openapi_states_batch_bounds_and_non_empty_updates(tmp_path):
    app = create_app({"JOBSAPI_DATABASE": str(tmp_path / "jobs.db"),
                      "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD, "JOBSAPI_MAX_BATCH": 7})
    schemas = app.test_client().get("/openapi.json").get_json()["components"]["schemas"]
    for name, field in (("JobBatchCreate", "jobs"), ("JobBatchUpdate", "jobs"),
                        ("JobBatchDelete", "jobIds")):
        items = schemas[name]["properties"][field]
        assert (items["minItems"], items["maxItems"]) == (1, 7), name
    for name, least in (("JobUpdate", 1), ("JobBatchUpdateItem", 2), ("UserUpdate", 1),
                        ("ScheduledJobUpdate", 1)):
        assert schemas[name]["minProperties"] == least, name


def test_batch_and_summary_are_not_job_ids(make_user):
    alice = make_user()
    for path, methods in (("/jobs/batch", {"POST", "PATCH", "DELETE", "OPTIONS"}),
                          ("/jobs/summary", {"GET", "HEAD", "OPTIONS"})):
        allow = alice.request("OPTIONS", path).headers["Allow"]
        assert {method.strip() for method in allow.split(",")} == methods, path
    response = alice.get("/jobs/batch")
    assert_error(response, 405)
    assert "GET" not in response.headers["Allow"]


def test_a_user_id_no_user_can_have_is_404(admin):
    assert_error(admin.get(f"/api/users/{2**63}"), 404)
    assert_error(admin.get("/api/users/0"), 404)
