"""Single work-job routes over the live server: create, read, update, delete and ownership."""

import datetime as dt
import json
import re
import secrets

import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error
from jobsapi import database

pytestmark = pytest.mark.both_backends

FIELDS = {"jobId", "clientId", "status", "operation", "prompts", "model", "temperature",
          "priority", "requestData", "clientReference", "responseData", "processingMetrics",
          "errorData", "createdAt", "updatedAt", "attempts", "maxAttempts", "availableAt",
          "estimatedTokens"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MISSING_ID = "0123456789abcdef01234567"
MALFORMED_IDS = ["xyz", "0123456789ABCDEF01234567", "0123456789abcdef0123456", "0123456789abcdef012345678"]
DROP = object()  # an override that removes the field from the body


def job_body(**overrides):
    body = {"operation": "summarize", "prompts": ["Hello"], "model": "gpt-test",
            "requestData": {"text": "hi"}, **overrides}
    return {key: value for key, value in body.items() if value is not DROP}


def new_job(api, **overrides):
    response = api.post("/jobs", json=job_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def patched(api, job_id, **changes):
    response = api.patch(f"/jobs/{job_id}", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


def get_job(api, job_id):
    response = api.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def assert_field_error(response, field):
    body = assert_error(response, 400)
    assert field in body.get("errors", {}), body


def test_create_returns_the_full_job_response(make_user):
    alice = make_user()
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    response = alice.post("/jobs", json=job_body())
    assert response.status_code == 201, response.text
    job = response.json()
    assert set(job) == FIELDS
    assert re.fullmatch(r"[0-9a-f]{24}", job["jobId"])
    assert {key: job[key] for key in FIELDS - {"jobId", "createdAt", "updatedAt", "availableAt"}} == {
        "clientId": alice.user["id"], "status": "PENDING", "operation": "summarize",
        "prompts": ["Hello"], "model": "gpt-test", "temperature": None, "priority": 500,
        "requestData": {"text": "hi"}, "clientReference": None, "responseData": None,
        "processingMetrics": None, "errorData": None, "attempts": 0, "maxAttempts": 5,
        "estimatedTokens": None,
    }
    assert TIMESTAMP.fullmatch(job["createdAt"]) and job["createdAt"] == job["updatedAt"]
    assert job["availableAt"] == job["createdAt"]  # due at once
    created = dt.datetime.strptime(job["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert before <= created <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert get_job(alice, job["jobId"]) == job


def test_a_job_reads_back_as_created_and_as_listed(make_user):
    alice = make_user()
    text = 'é \u2028 " \\ \n \x01 \U0001f600'
    job = new_job(alice, prompts=["p", text], temperature=0.30000000000000004,
                  requestData={"float": 1.0000000000000002, "big": 2**70, "text": text,
                               "nested": [[{"none": None, "true": True}], []]},
                  clientReference={"ref": text})
    response = alice.get(f"/jobs/{job['jobId']}")
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == job
    assert response.json()["temperature"] == 0.30000000000000004
    assert alice.get("/jobs").json() == [job]


def test_head_answers_a_jobs_headers_without_its_body(make_user):
    alice = make_user()
    job = new_job(alice)
    got = alice.get(f"/jobs/{job['jobId']}")
    head = alice.request("HEAD", f"/jobs/{job['jobId']}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    assert head.headers["Content-Type"] == "application/json"
    assert alice.request("HEAD", f"/jobs/{MISSING_ID}").status_code == 404


@pytest.mark.parametrize("field,value", [
    ("operation", "x"), ("operation", "x" * 100), ("prompts", ["a", "b"]), ("prompts", ["p"] * 100),
    ("model", "m"), ("model", "m" * 200), ("temperature", 0), ("temperature", 0.7),
    ("temperature", 2), ("temperature", None), ("priority", 1), ("priority", 1000),
    ("requestData", {}), ("requestData", {"nested": {"list": [1, 2]}}),
    ("clientReference", None), ("clientReference", {"ref": "r-1", "n": 3}),
])
def test_create_accepts_values_within_the_rules(make_user, field, value):
    job = new_job(make_user(), **{field: value})
    assert job[field] == value


@pytest.mark.parametrize("field,value", [
    ("operation", DROP), ("operation", ""), ("operation", "x" * 101), ("operation", 5),
    ("operation", None), ("prompts", DROP), ("prompts", []), ("prompts", [""]),
    ("prompts", ["p"] * 101), ("prompts", "p"), ("prompts", [1]), ("model", DROP), ("model", ""),
    ("model", "m" * 201), ("temperature", -0.01), ("temperature", 2.01), ("temperature", "0.5"),
    ("temperature", True), ("priority", 0), ("priority", 1001), ("priority", 1.5),
    ("priority", "5"), ("priority", None), ("priority", True), ("requestData", DROP),
    ("requestData", None), ("requestData", []), ("requestData", "x"), ("clientReference", []),
    ("clientReference", "ref"), ("clientReference", 3),
    # unknown and read-only fields
    ("foo", 1), ("jobId", MISSING_ID), ("clientId", 1), ("status", "PENDING"),
    ("createdAt", "2024-01-15T06:00:00.000Z"), ("updatedAt", "2024-01-15T06:00:00.000Z"),
])
def test_create_rejects_values_outside_the_rules(make_user, field, value):
    alice = make_user()
    assert_field_error(alice.post("/jobs", json=job_body(**{field: value})), field)
    assert alice.get("/jobs/summary").json()["total"] == 0


@pytest.fixture(scope="module")
def restricted(tmp_path_factory):
    """A second server whose models and operations are allow-listed; logged in as admin."""
    live = LiveServer(tmp_path_factory.mktemp("restricted"),
                      JOBSAPI_MODELS="a,b", JOBSAPI_OPERATIONS="op1, op2").start()
    try:
        yield Api(live, "admin", ADMIN_PASSWORD)
    finally:
        live.stop()


def test_allow_lists_accept_listed_models_and_operations(restricted):
    job = new_job(restricted, model="b", operation="op2")
    assert (job["model"], job["operation"]) == ("b", "op2")
    assert patched(restricted, job["jobId"], model="a")["model"] == "a"


def test_allow_lists_are_the_documented_enums(restricted, anonymous):
    schemas = restricted.get("/openapi.json").json()["components"]["schemas"]
    for name in ("JobCreate", "JobUpdate"):
        properties = schemas[name]["properties"]
        assert properties["model"]["enum"] == ["a", "b"], name
        assert properties["operation"]["enum"] == ["op1", "op2"], name
    unrestricted = anonymous.get("/openapi.json").json()["components"]["schemas"]
    assert "enum" not in unrestricted["JobCreate"]["properties"]["model"]


@pytest.mark.parametrize("field,value", [("model", "c"), ("operation", "op3"), ("model", "a,b")])
def test_allow_lists_reject_other_values(restricted, field, value):
    body = job_body(**{"model": "a", "operation": "op1", field: value})
    assert_field_error(restricted.post("/jobs", json=body), field)
    job = new_job(restricted, model="a", operation="op1")
    assert_field_error(restricted.patch(f"/jobs/{job['jobId']}", json={field: value}), field)
    assert get_job(restricted, job["jobId"]) == job


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("job_id", MALFORMED_IDS)
def test_malformed_job_id_is_400(make_user, method, job_id):
    assert_error(make_user().request(method, f"/jobs/{job_id}", json={"priority": 5}), 400)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_job_is_404(make_user, method):
    response = make_user().request(method, f"/jobs/{MISSING_ID}", json={"priority": 5})
    assert_error(response, 404, f"Job not found: {MISSING_ID}")


@pytest.mark.parametrize("field,value", [
    ("status", "PROCESSING"), ("status", "CANCELED"), ("operation", "translate"),
    ("prompts", ["a", "b"]), ("model", "other"), ("temperature", 1.5), ("temperature", None),
    ("priority", 7), ("requestData", {"x": 1}), ("clientReference", {"ref": "new"}),
    ("clientReference", None), ("responseData", {"answer": 42}), ("processingMetrics", {"ms": 12}),
    ("errorData", {"reason": "boom"}),
])
def test_patch_changes_one_field(make_user, field, value):
    alice = make_user()
    job = new_job(alice, temperature=0.5, clientReference={"ref": "old"})
    updated = patched(alice, job["jobId"], **{field: value})
    assert updated == {**job, field: value, "updatedAt": updated["updatedAt"]}
    assert get_job(alice, job["jobId"]) == updated


@pytest.mark.parametrize("body,field", [
    ({"priority": 0}, "priority"), ({"temperature": 3}, "temperature"), ({"prompts": []}, "prompts"),
    ({"status": "NOPE"}, "status"), ({"requestData": None}, "requestData"), ({"foo": 1}, "foo"),
    ({"jobId": MISSING_ID}, "jobId"), ({"clientId": 1}, "clientId"),
    ({"createdAt": "2024-01-15T06:00:00.000Z"}, "createdAt"),
])
def test_patch_rejects_bad_fields(make_user, body, field):
    alice = make_user()
    job = new_job(alice)
    assert_field_error(alice.patch(f"/jobs/{job['jobId']}", json=body), field)
    assert get_job(alice, job["jobId"]) == job


@pytest.mark.parametrize("kwargs", [{"json": {}}, {}], ids=["empty-object", "no-body"])
def test_patch_without_changes_is_400(make_user, kwargs):
    alice = make_user()
    job = new_job(alice)
    assert_error(alice.patch(f"/jobs/{job['jobId']}", **kwargs), 400)
    assert get_job(alice, job["jobId"]) == job


@pytest.mark.parametrize("field,value", [
    ("operation", "translate"), ("prompts", ["x"]), ("model", "other"), ("temperature", 1.0),
    ("requestData", {"y": 2}),
])
def test_content_fields_are_locked_once_processing(make_user, field, value):
    alice = make_user()
    job = patched(alice, new_job(alice)["jobId"], status="PROCESSING")
    body = assert_error(alice.patch(f"/jobs/{job['jobId']}", json={field: value}), 409)
    assert field in body.get("errors", {}), body
    assert get_job(alice, job["jobId"]) == job
    # ... and editable again once processing failed
    patched(alice, job["jobId"], status="ERROR_PROCESSING")
    assert patched(alice, job["jobId"], **{field: value})[field] == value


@pytest.mark.parametrize("status_path", [["PROCESSING"], ["PROCESSING", "PROCESSED", "CONSUMED"]])
@pytest.mark.parametrize("field,value", [
    ("priority", 3), ("clientReference", {"ref": "late"}), ("responseData", {"answer": 1}),
    ("processingMetrics", {"tokens": 9}), ("errorData", {"reason": "x"}),
])
def test_other_fields_change_at_any_time(make_user, status_path, field, value):
    alice = make_user()
    job = new_job(alice)
    for status in status_path:
        job = patched(alice, job["jobId"], status=status)
    updated = patched(alice, job["jobId"], **{field: value})
    assert updated == {**job, field: value, "updatedAt": updated["updatedAt"]}


def test_updated_at_moves_on_update(client, monkeypatch):
    clock = [dt.datetime(2024, 1, 15, 6, 0, 0)]
    monkeypatch.setattr(database, "now", lambda: clock[0])  # the database's clock
    login = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    headers = {"Authorization": f"Bearer {login.get_json()['accessToken']}"}
    job = client.post("/jobs", json=job_body(), headers=headers).get_json()
    assert job["createdAt"] == job["updatedAt"] == "2024-01-15T06:00:00.000Z"
    clock[0] = dt.datetime(2024, 1, 15, 6, 30, 0, 250000)
    updated = client.patch(f"/jobs/{job['jobId']}", json={"priority": 9}, headers=headers)
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert updated.get_json()["createdAt"] == "2024-01-15T06:00:00.000Z"
    assert updated.get_json()["updatedAt"] == "2024-01-15T06:30:00.250Z"
    stored = client.get(f"/jobs/{job['jobId']}", headers=headers).get_json()
    assert stored["updatedAt"] == "2024-01-15T06:30:00.250Z"


def test_delete_hides_the_job_everywhere(make_user):
    alice = make_user()
    kept, gone = new_job(alice), new_job(alice)
    response = alice.delete(f"/jobs/{gone['jobId']}")
    assert response.status_code == 204 and response.content == b""
    for method in ("GET", "PATCH", "DELETE"):
        response = alice.request(method, f"/jobs/{gone['jobId']}", json={"priority": 5})
        assert_error(response, 404, f"Job not found: {gone['jobId']}")
    assert alice.get("/jobs").json() == [kept]
    assert alice.get("/jobs/summary").json() == {
        "PENDING": 1, "PROCESSING": 0, "PROCESSED": 0, "CONSUMED": 0, "ERROR_PROCESSING": 0,
        "ERROR_CONSUMING": 0, "CANCELED": 0, "total": 1,
    }


def _masked(response, job_id):
    return response.status_code, json.loads(response.text.replace(job_id, "<id>"))


def test_another_clients_job_looks_missing(make_user):
    alice, bob = make_user(), make_user()
    job = new_job(alice)
    for method in ("GET", "PATCH", "DELETE"):
        theirs = bob.request(method, f"/jobs/{job['jobId']}", json={"priority": 5})
        missing = bob.request(method, f"/jobs/{MISSING_ID}", json={"priority": 5})
        assert_error(theirs, 404)
        assert _masked(theirs, job["jobId"]) == _masked(missing, MISSING_ID)
    assert get_job(alice, job["jobId"]) == job
    assert bob.get("/jobs").json() == []
    assert bob.get("/jobs/summary").json()["total"] == 0
    sneaky = bob.get("/jobs", params={"clientId": alice.user["id"]})
    assert job["jobId"] not in sneaky.text
    assert job["jobId"] not in bob.get("/jobs/summary", params={"clientId": alice.user["id"]}).text


def test_admin_sees_updates_and_deletes_a_clients_job(make_user, admin):
    alice = make_user()
    tag = secrets.token_hex(4)
    job = new_job(alice, clientReference={"tag": tag})
    assert get_job(admin, job["jobId"]) == job
    assert admin.get("/jobs", params={"clientReference.tag": tag}).json() == [job]
    assert admin.get("/jobs/summary", params={"clientReference.tag": tag}).json()["total"] == 1
    updated = patched(admin, job["jobId"], priority=2, status="PROCESSING")
    assert updated["clientId"] == alice.user["id"]
    assert get_job(alice, job["jobId"]) == updated
    assert admin.delete(f"/jobs/{job['jobId']}").status_code == 204
    assert_error(alice.get(f"/jobs/{job['jobId']}"), 404)


def test_admin_filters_by_client_id(make_user, admin):
    alice, bob = make_user(), make_user()
    first, second = new_job(alice), new_job(alice)
    bobs = new_job(bob)
    for user, expected in ((alice, [second, first]), (bob, [bobs])):
        params = {"clientId": user.user["id"]}
        assert admin.get("/jobs", params=params).json() == expected
        assert admin.get("/jobs/summary", params=params).json()["total"] == len(expected)
    # a client's clientId filter never widens what they see
    assert bob.get("/jobs", params={"clientId": alice.user["id"]}).json() in ([], [bobs])
