"""User management: /api/users for holders of users.manage."""

import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, wait_for

pytestmark = pytest.mark.both_backends

USER_KEYS = {"id", "username", "role", "permissions", "grantedPermissions", "disabled",
             "createdAt"}
EVERY_PERMISSION = ["activities.read", "jobs.work", "metrics.read", "settings.update",
                    "users.manage"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def new_name(prefix="user"):
    return f"{prefix}-{secrets.token_hex(4)}"


def create(admin, **fields):
    body = {"username": new_name(), "password": "a-good-password", **fields}
    response = admin.post("/api/users", json=body)
    return response, body


def login(api, username, password):
    return api.post("/api/auth/login", json={"username": username, "password": password})


def test_admin_creates_a_user(admin):
    permissions = ["activities.read", "settings.update"]
    response, sent = create(admin, role="client", permissions=permissions)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_KEYS
    assert isinstance(body["id"], int)
    assert body["username"] == sent["username"]
    assert body["role"] == "client"
    assert sorted(body["permissions"]) == ["activities.read", "settings.update"]
    assert sorted(body["grantedPermissions"]) == ["activities.read", "settings.update"]
    assert body["disabled"] is False
    assert TIMESTAMP.match(body["createdAt"]), body["createdAt"]
    created = datetime.strptime(body["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(now - created) < timedelta(minutes=1)
    assert "password" not in response.text.lower() and sent["password"] not in response.text


def test_created_user_can_log_in(admin, anonymous):
    response, sent = create(admin)
    assert response.status_code == 201
    assert login(anonymous, sent["username"], sent["password"]).status_code == 200


def test_role_and_permissions_default_to_a_plain_client(admin):
    response = admin.post("/api/users", json={"username": new_name(), "password": "long-enough"})
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "client" and response.json()["permissions"] == []
    assert response.json()["grantedPermissions"] == []


def test_list_and_get_by_id_return_the_stored_user(admin):
    created = create(admin, role="admin")[0].json()
    listed = admin.get("/api/users")
    assert listed.status_code == 200
    assert created in listed.json()
    assert all(set(user) == USER_KEYS for user in listed.json())
    fetched = admin.get(f"/api/users/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_patch_role_and_permissions(admin):
    created = create(admin)[0].json()
    response = admin.patch(
        f"/api/users/{created['id']}", json={"role": "admin", "permissions": ["users.manage"]}
    )
    assert response.status_code == 200, response.text
    expected = {**created, "role": "admin", "permissions": EVERY_PERMISSION,
                "grantedPermissions": ["users.manage"]}
    assert {**response.json(), "permissions": sorted(response.json()["permissions"])} == expected
    fetched = admin.get(f"/api/users/{created['id']}").json()
    assert {**fetched, "permissions": sorted(fetched["permissions"])} == expected


def test_an_admin_is_listed_with_every_permission(admin):
    created = create(admin, role="admin", permissions=["activities.read"])[0].json()
    assert sorted(created["permissions"]) == EVERY_PERMISSION
    assert created["grantedPermissions"] == ["activities.read"]
    listed = {user["username"]: user for user in admin.get("/api/users").json()}
    assert sorted(listed["admin"]["permissions"]) == EVERY_PERMISSION
    assert listed["admin"]["grantedPermissions"] == []
    assert listed[created["username"]] == created


def test_patch_disabled_blocks_login_and_reenabling_restores_it(admin, anonymous):
    response, sent = create(admin)
    user_id = response.json()["id"]
    disabled = admin.patch(f"/api/users/{user_id}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert admin.get(f"/api/users/{user_id}").json()["disabled"] is True
    assert_error(login(anonymous, sent["username"], sent["password"]), 401)
    enabled = admin.patch(f"/api/users/{user_id}", json={"disabled": False})
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert login(anonymous, sent["username"], sent["password"]).status_code == 200


def test_patch_password(admin, anonymous):
    response, sent = create(admin)
    user_id = response.json()["id"]
    changed = admin.patch(f"/api/users/{user_id}", json={"password": "a-brand-new-password"})
    assert changed.status_code == 200, changed.text
    assert set(changed.json()) == USER_KEYS
    assert login(anonymous, sent["username"], "a-brand-new-password").status_code == 200
    assert_error(login(anonymous, sent["username"], sent["password"]), 401)


def test_duplicate_username_is_409(admin):
    response, sent = create(admin)
    assert response.status_code == 201
    again = admin.post("/api/users", json={**sent, "password": "another-password"})
    assert_error(again, 409, sent["username"])
    names = [user["username"] for user in admin.get("/api/users").json()]
    assert names.count(sent["username"]) == 1


def test_unknown_id_is_404(admin):
    assert_error(admin.get("/api/users/999999999"), 404, "999999999")
    assert_error(admin.patch("/api/users/999999999", json={"disabled": True}), 404)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"role": "superuser"}, "role"),
        ({"permissions": ["jobs.everything"]}, "permissions"),
        ({"permissions": "users.manage"}, "permissions"),
        ({"password": "short77"}, "password"),
        ({"username": "has space"}, "username"),
        ({"username": ""}, "username"),
        ({"nickname": "x"}, "nickname"),
    ],
)
def test_bad_create_bodies_are_400(admin, fields, field):
    response, sent = create(admin, **fields)
    error = assert_error(response, 400)
    assert field in error["errors"]
    if sent["username"]:
        names = [user["username"] for user in admin.get("/api/users").json()]
        assert sent["username"] not in names


def test_missing_username_or_password_is_400(admin):
    no_password = admin.post("/api/users", json={"username": new_name()})
    assert "password" in assert_error(no_password, 400)["errors"]
    no_username = admin.post("/api/users", json={"password": "long-enough"})
    assert "username" in assert_error(no_username, 400)["errors"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"role": "root"}, "role"),
        ({"permissions": ["nope"]}, "permissions"),
        ({"password": "1234567"}, "password"),
        ({"disabled": "yes"}, "disabled"),
        ({"username": "renamed"}, "username"),
    ],
)
def test_bad_patch_bodies_are_400_and_change_nothing(admin, fields, field):
    created = create(admin)[0].json()
    error = assert_error(admin.patch(f"/api/users/{created['id']}", json=fields), 400)
    assert field in error["errors"]
    assert admin.get(f"/api/users/{created['id']}").json() == created


def test_empty_patch_is_400(admin):
    created = create(admin)[0].json()
    assert_error(admin.patch(f"/api/users/{created['id']}", json={}), 400)


def test_a_client_without_users_manage_is_403_everywhere(admin, make_user):
    client = make_user(permissions=["activities.read", "settings.update"])
    target = create(admin)[0].json()
    assert_error(client.get("/api/users"), 403, "users.manage")
    name = new_name()
    assert_error(client.post("/api/users", json={"username": name, "password": "long-enough"}), 403)
    assert_error(client.get(f"/api/users/{target['id']}"), 403)
    assert_error(client.patch(f"/api/users/{client.user['id']}", json={"role": "admin"}), 403)
    assert_error(client.patch(f"/api/users/{target['id']}", json={"disabled": True}), 403)
    # Nothing changed.
    assert name not in [user["username"] for user in admin.get("/api/users").json()]
    assert admin.get(f"/api/users/{target['id']}").json() == target
    assert admin.get(f"/api/users/{client.user['id']}").json()["role"] == "client"


def test_a_client_with_users_manage_can_manage_users(make_user):
    manager = make_user(permissions=["users.manage"])
    listed = manager.get("/api/users")
    assert listed.status_code == 200
    assert manager.user["id"] in [user["id"] for user in listed.json()]
    created = manager.post("/api/users", json={"username": new_name(), "password": "long-enough"})
    assert created.status_code == 201, created.text
    assert manager.get(f"/api/users/{created.json()['id']}").json() == created.json()


def test_no_token_is_401_everywhere(anonymous, admin):
    target = create(admin)[0].json()
    name = new_name()
    assert_error(anonymous.get("/api/users"), 401)
    body = {"username": name, "password": "long-enough"}
    assert_error(anonymous.post("/api/users", json=body), 401)
    assert_error(anonymous.get(f"/api/users/{target['id']}"), 401)
    assert_error(anonymous.patch(f"/api/users/{target['id']}", json={"disabled": True}), 401)
    assert name not in [user["username"] for user in admin.get("/api/users").json()]
    assert admin.get(f"/api/users/{target['id']}").json() == target


def test_changes_through_the_api_apply_to_the_next_request_at_once(admin, make_user):
    user = make_user(permissions=["activities.read"])
    assert user.get("/api/activities").status_code == 200  # its lookup is now reused
    changed = admin.patch(f"/api/users/{user.user['id']}", json={"permissions": []})
    assert changed.status_code == 200, changed.text
    assert_error(user.get("/api/activities"), 403)
    assert admin.patch(f"/api/users/{user.user['id']}", json={"disabled": True}).status_code == 200
    assert_error(user.get("/jobs"), 401, "disabled")


def test_a_user_disabled_by_another_process_is_refused_within_the_cache_time(tmp_path):
    server = LiveServer(tmp_path, JOBSAPI_USER_CACHE_SECONDS="0.5").start()
    try:
        admin = Api(server, "admin", ADMIN_PASSWORD)
        created = admin.post("/api/users", json={"username": "erin", "password": "pw-erin-123"})
        assert created.status_code == 201, created.text
        erin = Api(server, "erin", "pw-erin-123")
        assert erin.get("/jobs").status_code == 200
        # Another process (the CLI, a second server) writes the same file.
        server.sql("UPDATE users SET disabled = ? WHERE username = 'erin'", (True,))
        assert wait_for(lambda: erin.get("/jobs").status_code == 401, timeout=5)
        assert_error(erin.get("/jobs"), 401, "disabled")
    finally:
        server.stop()
