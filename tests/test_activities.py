"""The activity log (/api/activities) over a real server: what is recorded, filters, paging, access."""

import datetime as dt
import re
import secrets

import pytest

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error

pytestmark = pytest.mark.both_backends

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = set("id userId username action resource resourceId details ip userAgent createdAt".split())


@pytest.fixture(scope="module")
def boss(tmp_path_factory):
    """The admin of a private server: job actions change scheduled jobs, which are global."""
    live = LiveServer(tmp_path_factory.mktemp("activities")).start()
    yield Api(live, "admin", ADMIN_PASSWORD)
    live.stop()


def page(api, **params):
    response = api.get("/api/activities", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def entries(api, **params):
    return page(api, limit=100, **params)["activities"]


def test_activities_need_a_token_and_activities_read(anonymous, make_user):
    assert_error(anonymous.get("/api/activities"), 401)
    other = make_user(permissions=["settings.update", "users.manage"])
    assert_error(other.get("/api/activities"), 403, "activities.read")
    body = page(make_user(permissions=["activities.read"]))
    assert set(body) == {"activities", "total", "limit", "offset"}
    assert (body["limit"], body["offset"]) == (50, 0) and body["total"] >= len(body["activities"])


def test_logins_are_recorded_with_the_client(server, admin, make_user):
    user = make_user()
    again = Api(server)
    again.session.headers["User-Agent"] = "activity-test/1.0"
    again.login(user.user["username"], user.password)
    found = entries(admin, action="auth.login", userId=user.user["id"])
    assert len(found) == 2 and found[0]["id"] > found[1]["id"]
    assert all(set(entry) == FIELDS and TIMESTAMP.match(entry["createdAt"]) for entry in found)
    assert {k: v for k, v in found[0].items() if k not in ("id", "createdAt")} == {
        "userId": user.user["id"], "username": user.user["username"], "action": "auth.login",
        "resource": "user", "resourceId": str(user.user["id"]), "details": None,
        "ip": "127.0.0.1", "userAgent": "activity-test/1.0"}
    assert found[1]["userAgent"].startswith("python-requests/")


def test_failed_logins_record_the_username_and_never_the_password(admin, anonymous, make_user):
    user, ghost = make_user(), f"ghost-{secrets.token_hex(4)}"
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    for username in (user.user["username"], ghost):
        assert_error(anonymous.post("/api/auth/login", json={"username": username, "password": wrong}), 401)
    response = admin.get("/api/activities", params={"action": "auth.login.failed", "limit": 100})
    assert response.status_code == 200 and wrong not in response.text
    found = [e for e in response.json()["activities"] if e["username"] in (user.user["username"], ghost)]
    assert [(e["username"], e["userId"], e["resource"], e["resourceId"], e["details"]) for e in found] == [
        (ghost, None, "user", None, None), (user.user["username"], None, "user", None, None)]


def test_logout_is_recorded_only_when_it_happened(admin, anonymous, make_user):
    user = make_user()
    before = page(admin, action="auth.logout")["total"]
    assert anonymous.post("/api/auth/logout", json={"refreshToken": "no-such-token"}).status_code == 204
    assert page(admin, action="auth.logout")["total"] == before
    assert user.post("/api/auth/logout", json={"refreshToken": user.tokens["refreshToken"]}).status_code == 204
    found = entries(admin, action="auth.logout", userId=user.user["id"])
    assert [(e["username"], e["resource"], e["resourceId"]) for e in found] == [
        (user.user["username"], "user", str(user.user["id"]))]
    assert page(admin, action="auth.logout")["total"] == before + 1


def test_user_changes_are_recorded_without_passwords(admin, make_user):
    user = make_user(permissions=["activities.read"])
    user_id, new_password = user.user["id"], secrets.token_urlsafe(16)
    changed = admin.patch(f"/api/users/{user_id}", json={"password": new_password, "permissions": []})
    assert changed.status_code == 200, changed.text
    response = admin.get("/api/activities", params={"resource": "user", "resourceId": str(user_id)})
    assert response.status_code == 200
    assert user.password not in response.text and new_password not in response.text
    found = {e["action"]: e for e in response.json()["activities"]}
    assert set(found) == {"users.create", "auth.login", "users.update"}
    assert (found["users.create"]["userId"], found["users.create"]["username"]) == (admin.user["id"], "admin")
    assert found["users.create"]["details"] == {
        "username": user.user["username"], "role": "client", "permissions": ["activities.read"]}
    assert found["users.update"]["details"] == {"permissions": [], "passwordChanged": True}


def test_job_actions_are_recorded_with_the_job_id(boss):
    path = "/api/jobs/prune-job-logs"
    calls = [("PATCH", "", {"enabled": False}, 200), ("POST", "/start", None, 409),
             ("PATCH", "", {"schedule": "15 3 * * *"}, 200), ("PATCH", "", {"enabled": "no"}, 400),
             ("POST", "/stop", None, 200), ("PATCH", "", {"enabled": True}, 200),
             ("POST", "/stop", None, 200), ("POST", "/start", None, 200), ("POST", "/trigger", None, 200)]
    for method, suffix, body, code in calls:
        response = boss.request(method, path + suffix, json=body)
        assert response.status_code == code, (method, suffix, response.text)
    run_id = response.json()["runId"]
    found = entries(boss, resource="job", resourceId="prune-job-logs")
    assert [e["action"] for e in found] == ["jobs.trigger", "jobs.start", "jobs.stop", "jobs.update",
                                            "jobs.stop", "jobs.update", "jobs.update"]
    assert [found[n]["details"] for n in (0, 3, 5, 6)] == [
        {"runId": run_id}, {"enabled": True}, {"schedule": "15 3 * * *"}, {"enabled": False}]
    assert {(e["userId"], e["username"], e["resource"]) for e in found} == {
        (boss.user["id"], "admin", "job")}
    assert entries(boss, action="jobs.trigger", resourceId="prune-job-logs") == found[:1]


def test_filters_narrow_the_log(admin, make_user):
    user = make_user()
    user_id = user.user["id"]
    assert admin.patch(f"/api/users/{user_id}", json={"permissions": ["activities.read"]}).status_code == 200
    about = entries(admin, resource="user", resourceId=str(user_id))
    assert [e["action"] for e in about] == ["users.update", "auth.login", "users.create"]
    by_user = entries(admin, userId=user_id)
    assert [(e["action"], e["userId"]) for e in by_user] == [("auth.login", user_id)]
    assert entries(admin, action="users.update", resourceId=str(user_id)) == about[:1]
    by_admin = entries(admin, userId=admin.user["id"], action="users.create")
    assert about[2] in by_admin and {e["userId"] for e in by_admin} == {admin.user["id"]}
    assert page(admin, resource="user", resourceId="no-such-thing") == {
        "activities": [], "total": 0, "limit": 50, "offset": 0}


def shifted(stamp, **delta):
    """An API time moved by `delta`, in the same format."""
    moved = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(**delta)
    return moved.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture
def history(admin, make_user):
    """A fresh user's entries, newest first: users.update, auth.login, users.create."""
    user_id = make_user().user["id"]
    assert admin.patch(f"/api/users/{user_id}", json={"permissions": []}).status_code == 200

    def ids(**params):
        return [e["id"] for e in entries(admin, resource="user", resourceId=str(user_id), **params)]

    return entries(admin, resource="user", resourceId=str(user_id)), ids


def test_since_and_until_bound_the_creation_time(history):
    (update, login, create), ids = history
    assert ids(since=login["createdAt"]) == [update["id"], login["id"]]
    assert ids(until=shifted(create["createdAt"], milliseconds=1)) == [create["id"]]
    assert ids(since=create["createdAt"], until=shifted(login["createdAt"], milliseconds=-1)) == [
        create["id"]]
    in_paris = shifted(login["createdAt"], hours=2)[:-1] + "+02:00"
    assert ids(since=in_paris) == [update["id"], login["id"]]
    assert ids(since=login["createdAt"][:-1]) == [update["id"], login["id"]]  # no offset: UTC
    assert ids(since="2999-01-01T00:00:00Z") == []


def test_until_includes_an_entry_created_at_that_time(history):
    (update, login, create), ids = history
    assert ids(until=login["createdAt"]) == [login["id"], create["id"]]
    assert ids(since=login["createdAt"], until=login["createdAt"]) == [login["id"]]


def test_paging_is_newest_first_with_a_clamped_limit(admin, make_user):
    user_id = make_user().user["id"]
    for n in range(105):
        permissions = ["activities.read"] if n % 2 else []
        response = admin.patch(f"/api/users/{user_id}", json={"permissions": permissions})
        assert response.status_code == 200, response.text
    scope = {"action": "users.update", "resourceId": str(user_id)}
    first = page(admin, **scope)
    assert (first["total"], first["limit"], first["offset"], len(first["activities"])) == (105, 50, 0, 50)
    assert [e["details"] for e in first["activities"][:2]] == [
        {"permissions": []}, {"permissions": ["activities.read"]}]
    wide = page(admin, limit=500, **scope)
    assert (wide["limit"], len(wide["activities"]), wide["activities"][:50]) == (100, 100, first["activities"])
    ids = [e["id"] for e in wide["activities"]]
    assert ids == sorted(ids, reverse=True)
    rest = page(admin, limit=100, offset=100, **scope)
    assert (rest["offset"], len(rest["activities"])) == (100, 5)
    assert page(admin, limit=50, offset=50, **scope)["activities"] == wide["activities"][50:]


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "-1"}, {"offset": "-1"},
                                    {"userId": "abc"}, {"since": "yesterday"}, {"until": "2024-13-01"}])
def test_bad_query_parameters_are_rejected(admin, params):
    error = assert_error(admin.get("/api/activities", params=params), 400)
    assert set(error["errors"]) == set(params)


@pytest.mark.parametrize("params", [{"offset": str(2 ** 63)}, {"userId": str(2 ** 63)}])
def test_huge_numbers_are_not_a_server_error(admin, params):
    # The issue does not say whether this is an empty page or a 400; never a 500.
    response = admin.get("/api/activities", params=params)
    assert response.status_code in (200, 400), response.text


def test_no_password_or_token_is_ever_shown(server, admin, anonymous, make_user):
    user = make_user(permissions=["activities.read"])
    name, user_id = user.user["username"], user.user["id"]
    secrets_used = [ADMIN_PASSWORD, user.password, user.tokens["refreshToken"], user.tokens["accessToken"]]
    refreshed = user.post("/api/auth/refresh", json={"refreshToken": user.tokens["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    secrets_used.append(refreshed.json()["refreshToken"])
    wrong = secrets.token_urlsafe(12)
    assert anonymous.post("/api/auth/login", json={"username": name, "password": wrong}).status_code == 401
    new_password = secrets.token_urlsafe(16)
    assert admin.patch(f"/api/users/{user_id}", json={"password": new_password}).status_code == 200
    relogged = Api(server, name, new_password)
    # Logged out without the access token, which logout would revoke: it reads the log below.
    assert anonymous.post("/api/auth/logout", json={"refreshToken": relogged.tokens["refreshToken"]}
                          ).status_code == 204
    secrets_used += [wrong, new_password, relogged.tokens["refreshToken"], relogged.tokens["accessToken"]]
    secrets_used += [admin.tokens["refreshToken"], admin.tokens["accessToken"]]
    for viewer, params in [(admin, {}), (admin, {"resourceId": str(user_id)}), (relogged, {"userId": user_id}),
                           (admin, {"action": "auth.login.failed"}), (admin, {"resource": "user"})]:
        response = viewer.get("/api/activities", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        assert not [secret for secret in secrets_used if secret in response.text]
    recorded = {e["action"] for e in entries(admin, resource="user")
                if e["username"] == name or e["resourceId"] == str(user_id)}
    assert recorded == {"users.create", "auth.login", "auth.login.failed", "auth.logout", "users.update"}
