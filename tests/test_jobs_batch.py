"""Batch job routes over the live server: request order, all-or-nothing, limits and auth."""

import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error

pytestmark = pytest.mark.both_backends

MISSING_ID = "0123456789abcdef01234567"
OTHER_MISSING_ID = "0123456789abcdef0123beef"
PREFIX = "Validation failed for job {} in batch: "


def job_body(**overrides):
    return {"operation": "summarize", "prompts": ["Hello"], "model": "gpt-test",
            "requestData": {"text": "hi"}, **overrides}


def new_jobs(api, count, **overrides):
    bodies = [job_body(operation=f"op-{n}", **overrides) for n in range(1, count + 1)]
    response = api.post("/jobs/batch", json={"jobs": bodies})
    assert response.status_code == 201, response.text
    return response.json()


def ids(jobs):
    return [job["jobId"] for job in jobs]


def stored(api, jobs):
    """What the owner sees of each job now (None for a job that is gone)."""
    responses = [api.get(f"/jobs/{job_id}") for job_id in ids(jobs)]
    return [r.json() if r.status_code == 200 else None for r in responses]


def test_batch_create_returns_jobs_in_request_order(make_user):
    alice = make_user()
    bodies = [job_body(operation="c", priority=3), job_body(operation="a", temperature=0.2),
              job_body(operation="b", clientReference={"ref": 1})]
    response = alice.post("/jobs/batch", json={"jobs": bodies})
    assert response.status_code == 201, response.text
    jobs = response.json()
    assert [(j["operation"], j["priority"], j["temperature"], j["clientReference"]) for j in jobs] == [
        ("c", 3, None, None), ("a", 500, 0.2, None), ("b", 500, None, {"ref": 1})]
    assert {(j["clientId"], j["status"]) for j in jobs} == {(alice.user["id"], "PENDING")}
    assert len(set(ids(jobs))) == 3
    assert stored(alice, jobs) == jobs
    assert alice.get("/jobs/summary").json()["total"] == 3


def test_batch_update_applies_changes_in_request_order(make_user):
    alice = make_user()
    first, second, third = new_jobs(alice, 3)
    changes = [
        {"jobId": third["jobId"], "priority": 500, "temperature": 0.9,
         "clientReference": {"ref": "updated-ref"}},
        {"jobId": first["jobId"], "status": "PROCESSING", "responseData": {"partial": True}},
        {"jobId": second["jobId"], "operation": "renamed", "prompts": ["x", "y"]},
    ]
    response = alice.patch("/jobs/batch", json={"jobs": changes})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert ids(updated) == [third["jobId"], first["jobId"], second["jobId"]]
    for job, before, change in zip(updated, (third, first, second), changes):
        assert job == {**before, **change, "updatedAt": job["updatedAt"]}
    assert stored(alice, [first, second, third]) == [updated[1], updated[2], updated[0]]


def test_batch_delete_removes_every_job(make_user):
    alice = make_user()
    jobs = new_jobs(alice, 3)
    response = alice.delete("/jobs/batch", json={"jobIds": ids(jobs)})
    assert response.status_code == 204 and response.content == b""
    assert stored(alice, jobs) == [None, None, None]
    assert alice.get("/jobs").json() == []
    assert alice.get("/jobs/summary").json()["total"] == 0


def test_admin_batches_span_clients(make_user, admin):
    alice, bob = make_user(), make_user()
    jobs = new_jobs(alice, 1) + new_jobs(bob, 1)
    response = admin.patch("/jobs/batch", json={"jobs": [
        {"jobId": job_id, "priority": 1} for job_id in ids(jobs)]})
    assert response.status_code == 200, response.text
    assert [alice.get(f"/jobs/{jobs[0]['jobId']}").json()["priority"],
            bob.get(f"/jobs/{jobs[1]['jobId']}").json()["priority"]] == [1, 1]
    assert admin.delete("/jobs/batch", json={"jobIds": ids(jobs)}).status_code == 204
    assert stored(alice, jobs[:1]) == stored(bob, jobs[1:]) == [None]


def _bad_third_update(kind, alice, bob, jobs):
    """A bad third item for a batch update, and what its errors entry must hold."""
    third = jobs[2]["jobId"]
    if kind == "field error":
        return {"jobId": third, "priority": 0}, "priority"
    if kind == "not found":
        return {"jobId": MISSING_ID, "priority": 2}, [f"Job not found: {MISSING_ID}"]
    if kind == "another client's job":
        theirs = new_jobs(bob, 1)[0]["jobId"]
        return {"jobId": theirs, "priority": 2}, [f"Job not found: {theirs}"]
    if kind == "forbidden transition":
        return {"jobId": third, "status": "CONSUMED"}, "status"
    if kind == "locked field":
        assert alice.patch(f"/jobs/{third}", json={"status": "PROCESSING"}).status_code == 200
        return {"jobId": third, "model": "other"}, "model"
    if kind == "repeated jobId":
        return {"jobId": jobs[0]["jobId"], "priority": 2}, jobs[0]["jobId"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["field error", "not found", "another client's job",
                                  "forbidden transition", "locked field", "repeated jobId"])
def test_batch_update_with_a_bad_last_item_changes_nothing(make_user, kind):
    alice, bob = make_user(), make_user()
    jobs = new_jobs(alice, 3)
    bad, expected = _bad_third_update(kind, alice, bob, jobs)
    before, summary = stored(alice, jobs), alice.get("/jobs/summary").json()
    response = alice.patch("/jobs/batch", json={"jobs": [
        {"jobId": jobs[0]["jobId"], "priority": 1, "status": "PROCESSING"},
        {"jobId": jobs[1]["jobId"], "clientReference": {"changed": True}}, bad]})
    body = assert_error(response, 400, PREFIX.format(3))
    assert body["message"].startswith(PREFIX.format(3))
    assert list(body["errors"]) == ["jobs"] and list(body["errors"]["jobs"]) == ["3"]
    item_errors = body["errors"]["jobs"]["3"]
    if isinstance(expected, list):
        assert body["message"] == PREFIX.format(3) + expected[0]
        assert item_errors == expected
    else:
        assert expected in str(item_errors), item_errors
    assert stored(alice, jobs) == before
    assert alice.get("/jobs/summary").json() == summary


@pytest.mark.parametrize("kind", ["not found", "another client's job", "repeated jobId",
                                  "malformed id", "already deleted"])
def test_batch_delete_with_a_bad_last_item_deletes_nothing(make_user, kind):
    alice, bob = make_user(), make_user()
    jobs = new_jobs(alice, 3)
    bad = {"not found": MISSING_ID, "another client's job": new_jobs(bob, 1)[0]["jobId"],
           "repeated jobId": jobs[0]["jobId"], "malformed id": "XYZ",
           "already deleted": jobs[2]["jobId"]}[kind]
    if kind == "already deleted":
        assert alice.delete(f"/jobs/{bad}").status_code == 204
    before, summary = stored(alice, jobs), alice.get("/jobs/summary").json()
    response = alice.delete("/jobs/batch", json={"jobIds": ids(jobs[:2]) + [bad]})
    body = assert_error(response, 400, PREFIX.format(3))
    assert body["message"].startswith(PREFIX.format(3))
    assert list(body["errors"]) == ["jobIds"] and list(body["errors"]["jobIds"]) == ["3"]
    if kind in ("not found", "another client's job", "already deleted"):
        assert body["message"] == PREFIX.format(3) + f"Job not found: {bad}"
        assert body["errors"]["jobIds"]["3"] == [f"Job not found: {bad}"]
    assert stored(alice, jobs) == before
    assert alice.get("/jobs/summary").json() == summary


@pytest.mark.parametrize("bad,field", [({"priority": 0}, "priority"), ({"model": ""}, "model"),
                                       ({"foo": 1}, "foo"), ({"status": "PENDING"}, "status")])
def test_batch_create_with_a_bad_last_item_creates_nothing(make_user, bad, field):
    alice = make_user()
    response = alice.post("/jobs/batch", json={"jobs": [job_body(), job_body(), job_body(**bad)]})
    body = assert_error(response, 400)
    assert body["message"].startswith(PREFIX.format(3))
    assert list(body["errors"]) == ["jobs"] and list(body["errors"]["jobs"]) == ["3"]
    assert field in body["errors"]["jobs"]["3"]
    assert alice.get("/jobs/summary").json()["total"] == 0


def test_batch_errors_name_the_first_and_list_every_failing_item(make_user):
    alice = make_user()
    jobs = new_jobs(alice, 2)
    response = alice.patch("/jobs/batch", json={"jobs": [
        {"jobId": jobs[0]["jobId"], "priority": 1}, {"jobId": MISSING_ID, "priority": 1},
        {"jobId": jobs[1]["jobId"], "priority": 1}, {"jobId": OTHER_MISSING_ID, "priority": 1}]})
    body = assert_error(response, 400)
    assert body["message"] == PREFIX.format(2) + f"Job not found: {MISSING_ID}"
    assert body["errors"] == {"jobs": {"2": [f"Job not found: {MISSING_ID}"],
                                       "4": [f"Job not found: {OTHER_MISSING_ID}"]}}
    response = alice.post("/jobs/batch", json={"jobs": [job_body(model=""), job_body(),
                                                        job_body(prompts=[])]})
    body = assert_error(response, 400)
    assert body["message"].startswith(PREFIX.format(1) + "model")
    assert list(body["errors"]["jobs"]) == ["1", "3"]
    assert alice.get("/jobs/summary").json()["total"] == 2


def test_batch_errors_list_field_and_lookup_failures_together(make_user):
    alice = make_user()
    jobs = new_jobs(alice, 2)
    response = alice.patch("/jobs/batch", json={"jobs": [
        {"jobId": jobs[0]["jobId"], "priority": 0}, {"jobId": jobs[1]["jobId"], "priority": 1},
        {"jobId": MISSING_ID, "priority": 1}]})
    body = assert_error(response, 400)
    assert body["message"].startswith(PREFIX.format(1) + "priority")
    assert sorted(body["errors"]["jobs"]) == ["1", "3"], body["errors"]
    assert stored(alice, jobs) == jobs


@pytest.mark.parametrize("seed,method", [("32", "PATCH"), ("33", "DELETE")])
def test_batch_of_unknown_jobs_is_400(make_user, seed, method):
    field, item = ("jobs", {"jobId": MISSING_ID, "priority": 500}) if method == "PATCH" \
        else ("jobIds", MISSING_ID)
    body = assert_error(make_user().request(method, "/jobs/batch", json={field: [item]}), 400)
    assert body["message"] == PREFIX.format(1) + f"Job not found: {MISSING_ID}"
    assert body["errors"] == {field: {"1": [f"Job not found: {MISSING_ID}"]}}


@pytest.mark.parametrize("method,body", [("POST", {"jobs": []}), ("PATCH", {"jobs": []}),
                                         ("DELETE", {"jobIds": []}), ("POST", {}),
                                         ("PATCH", {}), ("DELETE", {})])
def test_empty_batch_is_400(make_user, method, body):
    field = "jobIds" if method == "DELETE" else "jobs"
    response = make_user().request(method, "/jobs/batch", json=body)
    assert field in assert_error(response, 400).get("errors", {})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}],
                         ids=["no-token", "invalid-token"])
def test_batch_routes_need_a_token(make_user, anonymous, headers):
    alice = make_user()
    jobs = new_jobs(alice, 2)
    calls = [("POST", {"jobs": [job_body()]}),
             ("PATCH", {"jobs": [{"jobId": job_id, "priority": 1} for job_id in ids(jobs)]}),
             ("DELETE", {"jobIds": ids(jobs)})]
    for method, body in calls:
        assert_error(anonymous.request(method, "/jobs/batch", json=body, headers=headers), 401)
    assert stored(alice, jobs) == jobs
    assert alice.get("/jobs/summary").json()["total"] == 2


@pytest.fixture(scope="module")
def small_batches(tmp_path_factory):
    """A second server allowing at most 3 items per batch; logged in as admin."""
    live = LiveServer(tmp_path_factory.mktemp("small-batches"), JOBSAPI_MAX_BATCH="3").start()
    try:
        yield Api(live, "admin", ADMIN_PASSWORD)
    finally:
        live.stop()


def test_batches_over_the_limit_are_400(small_batches):
    api = small_batches
    summary = api.get("/jobs/summary").json()
    body = assert_error(api.post("/jobs/batch", json={"jobs": [job_body()] * 4}), 400)
    assert "jobs" in body.get("errors", {})
    assert api.get("/jobs/summary").json() == summary
    jobs = new_jobs(api, 3) + new_jobs(api, 1)
    four = {"jobs": [{"jobId": job_id, "priority": 1} for job_id in ids(jobs)]}
    assert "jobs" in assert_error(api.patch("/jobs/batch", json=four), 400).get("errors", {})
    body = assert_error(api.delete("/jobs/batch", json={"jobIds": ids(jobs)}), 400)
    assert "jobIds" in body.get("errors", {})
    assert stored(api, jobs) == jobs
    assert api.patch("/jobs/batch", json={"jobs": four["jobs"][:3]}).status_code == 200
    assert api.delete("/jobs/batch", json={"jobIds": ids(jobs)[:3]}).status_code == 204
    assert [job is None for job in stored(api, jobs)] == [True, True, True, False]
