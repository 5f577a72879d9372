"""Logout revokes the access token it is called with, in every process on the database."""

from datetime import datetime, timedelta

import pytest
from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, wait_for
from jobsapi import accounts, database
from jobsapi.models import RevokedToken

pytestmark = pytest.mark.both_backends

REVOKED = "The access token has been revoked."


def logout(api, **kwargs):
    return api.post("/api/auth/logout", json={"refreshToken": api.tokens["refreshToken"]},
                    **kwargs)


def test_logout_with_the_access_token_revokes_it_everywhere(make_user):
    alice = make_user()
    # Used first, so the server remembers it as verified (its fast path).
    assert alice.get("/api/auth/me").status_code == 200
    assert alice.get("/jobs").status_code == 200
    response = logout(alice)
    assert response.status_code == 204 and response.content == b""
    for path in ("/api/auth/me", "/jobs", "/jobs/summary"):
        body = assert_error(alice.get(path), 401, REVOKED)
        assert body["message"] == REVOKED
    assert_error(alice.post("/api/auth/refresh",
                            json={"refreshToken": alice.tokens["refreshToken"]}), 401)


def test_logout_revokes_only_the_token_it_was_called_with(server, make_user):
    alice = make_user()
    other = Api(server, alice.user["username"], alice.password)  # a second session
    assert logout(alice).status_code == 204
    assert_error(alice.get("/api/auth/me"), 401, REVOKED)
    assert other.get("/api/auth/me").status_code == 200


def test_logout_without_an_access_token_leaves_it_working(anonymous, make_user):
    alice = make_user()
    response = anonymous.post("/api/auth/logout",
                              json={"refreshToken": alice.tokens["refreshToken"]})
    assert response.status_code == 204
    assert alice.get("/api/auth/me").status_code == 200


def test_logout_with_a_bad_access_token_still_revokes_the_refresh_token(anonymous, make_user):
    alice = make_user()
    response = anonymous.post("/api/auth/logout",
                              json={"refreshToken": alice.tokens["refreshToken"]},
                              headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 204
    assert_error(anonymous.post("/api/auth/refresh",
                                json={"refreshToken": alice.tokens["refreshToken"]}), 401)


def test_the_openapi_document_shows_the_optional_bearer_on_logout(anonymous):
    spec = anonymous.get("/openapi.json").json()
    assert spec["paths"]["/api/auth/logout"]["post"]["security"] == [{}, {"bearerAuth": []}]


def test_a_token_revoked_through_one_server_is_refused_by_another(tmp_path):
    database = str(tmp_path / "shared.db")
    settings = {"JOBSAPI_DATABASE": database, "JOBSAPI_USER_CACHE_SECONDS": "0.5",
                "JOBSAPI_SCHEDULER": "0"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = LiveServer(tmp_path / "a", **settings).start()
    try:
        second = LiveServer(tmp_path / "b", **settings).start()
        try:
            admin = Api(first, "admin", ADMIN_PASSWORD)
            on_second = Api(second)
            on_second.session.headers["Authorization"] = admin.session.headers["Authorization"]
            assert on_second.get("/api/auth/me").status_code == 200  # remembered there
            assert logout(admin).status_code == 204
            assert_error(admin.get("/api/auth/me"), 401, REVOKED)  # at once where revoked
            assert wait_for(lambda: on_second.get("/api/auth/me").status_code == 401, timeout=5)
            assert_error(on_second.get("/jobs"), 401, REVOKED)
        finally:
            second.stop()
    finally:
        first.stop()


def test_purge_revoked_tokens_deletes_the_expired_ones(app):
    now = datetime(2024, 1, 15, 6, 0, 0)
    with app.app_context(), database.current().connection_context():
        RevokedToken.create(jti="old", expires_at=now - timedelta(seconds=1))
        RevokedToken.create(jti="live", expires_at=now + timedelta(minutes=5))
        assert accounts.purge_revoked_tokens(now) == 1
        assert [row.jti for row in RevokedToken.select()] == ["live"]
