"""Login, lockout, refresh rotation, logout and /api/auth/me."""

import json
import secrets
import time
from datetime import datetime, timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from conftest import ADMIN_PASSWORD, Api, assert_error
from jobsapi import accounts, database
from jobsapi.errors import RateLimited, Unauthorized

pytestmark = pytest.mark.both_backends

T0 = datetime(2024, 1, 15, 6, 0, 0)


class Reply:
    """A Flask test response seen through the requests API that assert_error expects."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = response.headers
        self.text = response.get_data(as_text=True)

    def json(self):
        return json.loads(self.text)


def login(api, username, password):
    return api.post("/api/auth/login", json={"username": username, "password": password})


def refresh(api, token):
    return api.post("/api/auth/refresh", json={"refreshToken": token})


def test_login_returns_a_token_pair_and_the_user(anonymous, make_user):
    alice = make_user(permissions=["activities.read"])
    response = login(anonymous, alice.user["username"], alice.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "user"}
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["accessToken"] and body["refreshToken"]
    assert body["user"] == {
        "id": alice.user["id"],
        "username": alice.user["username"],
        "role": "client",
        "permissions": ["activities.read"],
        "grantedPermissions": ["activities.read"],
    }
    text = response.text
    assert "password" not in text.lower() and alice.password not in text
    assert "scrypt:" not in text and "pbkdf2:" not in text  # no werkzeug hash either
    # The access token is usable at once.
    me = anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200 and me.json()["id"] == alice.user["id"]


def test_bad_password_unknown_user_and_disabled_user_get_the_same_401(anonymous, admin, make_user):
    alice, bob = make_user(), make_user()
    wrong = assert_error(login(anonymous, alice.user["username"], "wrong-password"), 401)
    unknown = assert_error(login(anonymous, f"ghost-{secrets.token_hex(4)}", "whatever1"), 401)
    assert admin.patch(f"/api/users/{bob.user['id']}", json={"disabled": True}).status_code == 200
    disabled = assert_error(login(anonymous, bob.user["username"], bob.password), 401)
    assert wrong["message"] == unknown["message"] == disabled["message"]
    assert "errors" not in wrong


def test_five_failures_lock_the_username_even_for_the_right_password(anonymous, make_user):
    alice, bob = make_user(), make_user()
    for _ in range(5):
        assert_error(login(anonymous, alice.user["username"], "wrong-password"), 401)
    response = login(anonymous, alice.user["username"], alice.password)
    assert_error(response, 429)
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 900
    # Only that username is locked.
    assert login(anonymous, bob.user["username"], bob.password).status_code == 200


def test_failures_below_the_limit_do_not_lock(anonymous, make_user):
    alice = make_user()
    for _ in range(4):
        assert_error(login(anonymous, alice.user["username"], "wrong-password"), 401)
    assert login(anonymous, alice.user["username"], alice.password).status_code == 200


def test_lockout_ends_when_the_window_passes(app):
    with app.app_context(), database.current().connection_context():
        user = accounts.create_user("carol", "carol-password", now=T0)
        for second in range(5):
            with pytest.raises(Unauthorized):
                accounts.check_password("carol", "wrong", now=T0 + timedelta(seconds=second))
        with pytest.raises(RateLimited) as locked:
            accounts.check_password("carol", "carol-password", now=T0 + timedelta(minutes=5))
        assert locked.value.retry_after == 600
        with pytest.raises(RateLimited) as last:
            accounts.check_password("carol", "carol-password", now=T0 + timedelta(seconds=899))
        assert last.value.retry_after == 1
        later = T0 + timedelta(minutes=15)
        assert accounts.check_password("carol", "carol-password", now=later).id == user.id


def test_refresh_returns_a_new_pair_and_revokes_the_old_token(anonymous, make_user):
    alice = make_user()
    old = alice.tokens["refreshToken"]
    response = refresh(anonymous, old)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "user"}
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    assert body["refreshToken"] != old
    assert body["user"]["id"] == alice.user["id"]
    me = anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200 and me.json()["id"] == alice.user["id"]
    assert_error(refresh(anonymous, old), 401)


def test_reusing_a_rotated_token_revokes_the_whole_chain(anonymous, make_user):
    alice = make_user()
    first = alice.tokens["refreshToken"]
    second = refresh(anonymous, first).json()["refreshToken"]
    third = refresh(anonymous, second).json()["refreshToken"]
    assert_error(refresh(anonymous, first), 401)
    assert_error(refresh(anonymous, third), 401)
    # A separate login is another chain and keeps working.
    other = Api(alice.server, alice.user["username"], alice.password)
    assert refresh(anonymous, other.tokens["refreshToken"]).status_code == 200


def test_a_garbage_refresh_token_is_401(anonymous):
    assert_error(refresh(anonymous, "not-a-token"), 401)


def test_logout_revokes_the_refresh_token(anonymous, make_user):
    alice = make_user()
    token = alice.tokens["refreshToken"]
    response = anonymous.post("/api/auth/logout", json={"refreshToken": token})
    assert response.status_code == 204
    assert response.content == b""
    assert_error(refresh(anonymous, alice.tokens["refreshToken"]), 401)


def test_me_returns_the_current_user(make_user):
    alice = make_user(permissions=["settings.update"])
    response = alice.get("/api/auth/me")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alice.user["id"]
    assert body["username"] == alice.user["username"]
    assert body["role"] == "client" and body["permissions"] == ["settings.update"]
    assert body["grantedPermissions"] == ["settings.update"]
    assert body["disabled"] is False
    assert "password" not in response.text.lower()


def test_an_admin_reports_every_permission_and_its_granted_ones_apart(anonymous, admin):
    from jobsapi.auth import PERMISSIONS

    body = login(anonymous, "admin", ADMIN_PASSWORD).json()
    assert sorted(body["user"]["permissions"]) == sorted(PERMISSIONS)
    assert body["user"]["grantedPermissions"] == []
    me = admin.get("/api/auth/me").json()
    assert sorted(me["permissions"]) == sorted(PERMISSIONS) and me["grantedPermissions"] == []


def test_me_without_a_token_is_401(anonymous):
    response = anonymous.get("/api/auth/me")
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_access_token_is_401(app, client):
    with app.app_context():
        token = create_access_token(identity="1", expires_delta=timedelta(seconds=-1))
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(Reply(response), 401, "expired")


def test_a_fresh_access_token_from_the_app_fixture_works(app, client):
    # The counterpart of the expired-token test: the same path with a live token.
    with app.app_context():
        token = create_access_token(identity="1")
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["username"] == "admin"


def test_a_token_signed_with_another_key_is_401(anonymous, make_user):
    alice = make_user()
    now = int(time.time())
    claims = {"sub": str(alice.user["id"]), "iat": now, "nbf": now, "exp": now + 600,
              "jti": secrets.token_hex(8), "type": "access", "fresh": False}
    forged = pyjwt.encode(claims, secrets.token_urlsafe(64), algorithm="HS256")
    response = anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert_error(response, 401)


def test_a_disabled_users_access_and_refresh_tokens_stop_working(admin, anonymous, make_user):
    alice = make_user()
    assert alice.get("/api/auth/me").status_code == 200
    response = admin.patch(f"/api/users/{alice.user['id']}", json={"disabled": True})
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert_error(alice.get("/api/auth/me"), 401)
    assert_error(refresh(anonymous, alice.tokens["refreshToken"]), 401)


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/auth/login", {"username": "someone"}, "password"),
        ("/api/auth/login", {"username": "someone", "password": "pw", "otp": "1"}, "otp"),
        ("/api/auth/refresh", {}, "refreshToken"),
        ("/api/auth/refresh", {"refreshToken": "x", "extra": 1}, "extra"),
        ("/api/auth/logout", {"token": "x"}, "token"),
    ],
)
def test_bad_bodies_are_400_with_field_errors(anonymous, path, body, field):
    error = assert_error(anonymous.post(path, json=body), 400)
    assert field in error["errors"]
