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
