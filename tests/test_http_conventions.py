"""HTTP conventions over the live server: 204s, the docs' redirects, query parameters."""

import pytest

from conftest import assert_error


def new_job(api):
    body = {"operation": "summarize", "prompts": ["Hello"], "model": "gpt-test",
            "requestData": {"text": "hi"}}
    response = api.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()["jobId"]


def assert_no_content(response):
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "Content-Type" not in response.headers


def test_a_204_has_no_body_and_no_content_type(make_user, anonymous):
    alice = make_user()
    assert_no_content(alice.delete(f"/jobs/{new_job(alice)}"))
    assert_no_content(alice.delete("/jobs/batch", json={"jobIds": [new_job(alice)]}))
    assert_no_content(anonymous.post("/api/auth/logout", json={"refreshToken": alice.tokens["refreshToken"]}))


@pytest.mark.parametrize("path", ["/", "/docs/"])
def test_root_and_docs_slash_redirect_to_the_docs(anonymous, path):
    response = anonymous.get(path, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/docs"
    followed = anonymous.get(path)
    assert followed.status_code == 200 and followed.url.endswith("/docs")
    assert "swagger" in followed.text.lower()


def test_docs_redirects_are_not_in_the_openapi_document(anonymous):
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/docs/" not in paths


def user_with_everything(make_user):
    return make_user(permissions=["settings.update", "activities.read"])


QUERY_ROUTES = ["/jobs", "/jobs/summary", "/api/jobs/logs/all", "/api/activities"]


@pytest.mark.parametrize("path", QUERY_ROUTES)
def test_an_unknown_query_parameter_is_400_naming_it(make_user, path):
    user = user_with_everything(make_user)
    body = assert_error(user.get(path, params={"colour": "red"}), 400, "colour")
    assert body["message"].startswith("Invalid query parameters")
    assert body["errors"] == {"colour": ["Unknown field."]}


@pytest.mark.parametrize("path", QUERY_ROUTES)
def test_known_query_parameters_still_answer(make_user, path):
    user = user_with_everything(make_user)
    params = {"limit": 5} if path != "/jobs/summary" else {"status": "PENDING"}
    assert user.get(path, params=params).status_code == 200


@pytest.mark.parametrize("path", ["/jobs", "/jobs/summary"])
def test_client_reference_filters_are_not_unknown_parameters(make_user, path):
    alice = make_user()
    job = {"operation": "summarize", "prompts": ["Hello"], "model": "gpt-test",
           "requestData": {}, "clientReference": {"order": "A-1"}}
    assert alice.post("/jobs", json=job).status_code == 201
    response = alice.get(path, params={"clientReference.order": "A-1"})
    assert response.status_code == 200, response.text
    found = response.json()
    assert (len(found) if path == "/jobs" else found["total"]) == 1
    assert_error(alice.get(path, params={"clientReference.order": "A-1", "clientRef": "x"}),
                 400, "clientRef")


def test_the_openapi_document_says_the_query_routes_take_no_other_parameters(anonymous):
    paths = anonymous.get("/openapi.json").json()["paths"]
    for path in ["/jobs", "/jobs/summary", "/api/jobs/logs/all", "/api/activities"]:
        operation = paths[path]["get"]
        assert "400" in operation["responses"], path


PAGED = {"/api/jobs/metadata-sync/logs": 100, "/api/jobs/logs/all": 200, "/api/activities": 100}


@pytest.mark.parametrize("path", PAGED)
def test_a_negative_limit_or_offset_names_the_documented_range(make_user, path):
    user = user_with_everything(make_user)
    message = f"Must be 0 or more; values above {PAGED[path]} are clamped."
    body = assert_error(user.get(path, params={"limit": -1}), 400, message)
    assert body["errors"] == {"limit": [message]}
    body = assert_error(user.get(path, params={"offset": -1}), 400, "Must be 0 or more.")
    assert body["errors"] == {"offset": ["Must be 0 or more."]}


@pytest.mark.parametrize("path", PAGED)
def test_any_large_limit_is_clamped_and_a_huge_offset_is_400(make_user, path):
    user = user_with_everything(make_user)
    response = user.get(path, params={"limit": 2**70})
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == PAGED[path]
    body = assert_error(user.get(path, params={"offset": 2**63}), 400)
    assert body["errors"] == {"offset": [f"Must be at most {2**63 - 1}."]}
