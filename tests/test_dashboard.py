"""The dashboard's sign-in, session, CSRF and permissions (jobsapi/dashboard/signin.py,
web.py), through Flask's test client."""

import pathlib

import pytest

from conftest import ADMIN_PASSWORD, database_settings
from dashboard_support import World
from jobsapi import create_app

pytestmark = pytest.mark.both_backends

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = ("/dashboard/", "/dashboard/jobs", "/dashboard/failures", "/dashboard/scheduled",
         "/dashboard/scheduled/metadata-sync", "/dashboard/activity", "/dashboard/workers",
         "/dashboard/limits")
# Who sees which page (200) and who is refused (403); the rest of the users see all.
KINDS = {
    "client": (), "watcher": ("jobs.work",), "auditor": ("activities.read",),
    "settings": ("settings.update",),
}
REFUSED = {
    "client": {"/dashboard/scheduled", "/dashboard/scheduled/metadata-sync",
               "/dashboard/activity", "/dashboard/workers", "/dashboard/limits"},
    "watcher": {"/dashboard/scheduled", "/dashboard/scheduled/metadata-sync",
                "/dashboard/activity"},
    "auditor": {"/dashboard/scheduled", "/dashboard/scheduled/metadata-sync",
                "/dashboard/workers", "/dashboard/limits"},
    "settings": {"/dashboard/activity", "/dashboard/workers"},
    "admin": set(),
}


@pytest.fixture
def world(app):
    return World(app)


def test_a_signed_out_browser_is_sent_to_the_sign_in_page(world):
    browser = world.browser()
    for path in PAGES:
        response = browser.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/dashboard/login?next={path}"
    assert "Sign in to jobsapi" in browser.text("/dashboard/login")


def test_a_signed_out_htmx_request_is_told_to_go_to_sign_in(world):
    response = world.browser().get("/dashboard/jobs", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/dashboard/login?next=/dashboard/jobs"


def test_sign_in_sets_a_safe_session_cookie_and_logs_the_login(world):
    browser = world.browser()
    response = browser.sign_in("admin", ADMIN_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert ADMIN_PASSWORD not in cookie
    assert "Overview" in browser.text("/dashboard/")
    [entry] = world.activities("auth.login")[:1]
    assert entry["username"] == "admin" and entry["details"] == {"via": "dashboard"}


def test_over_https_the_cookie_is_secure(world):
    browser = world.browser(base_url="https://localhost")
    response = browser.sign_in("admin", ADMIN_PASSWORD)
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_logged_and_counted_by_the_lockout(world):
    browser = world.browser()
    for _ in range(5):
        response = browser.sign_in("admin", "wrong")
        assert response.status_code == 401
        assert "Invalid username or password." in response.get_data(as_text=True)
    assert len(world.activities("auth.login.failed")) == 5
    locked = browser.sign_in("admin", ADMIN_PASSWORD)  # the right one, too late
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed logins" in locked.get_data(as_text=True)


def test_sign_in_without_the_csrf_token_is_refused(world):
    browser = world.browser()
    response = browser.post("/dashboard/login", {"username": "admin",
                                                 "password": ADMIN_PASSWORD}, csrf=False)
    assert response.status_code == 403
    assert "CSRF token is missing or wrong" in response.get_data(as_text=True)
    assert browser.get("/dashboard/").status_code == 302


def test_sign_out_revokes_the_session_even_for_a_copy_of_its_cookie(world):
    browser = world.browser("admin")
    cookie = browser.client.get_cookie("session").value
    assert browser.post("/dashboard/logout").status_code == 302
    assert browser.get("/dashboard/").status_code == 302
    thief = world.browser()
    thief.client.set_cookie("session", cookie)
    assert thief.get("/dashboard/").status_code == 302
    assert world.activities("auth.logout")[0]["username"] == "admin"


def test_a_disabled_user_is_signed_out(world):
    name = world.user()
    browser = world.browser(name)
    assert browser.get("/dashboard/").status_code == 200
    user_id = [u for u in world.api.get("/api/users", headers=world.headers()).get_json()
               if u["username"] == name][0]["id"]
    world.api.patch(f"/api/users/{user_id}", headers=world.headers(), json={"disabled": True})
    assert browser.get("/dashboard/").status_code == 302


@pytest.mark.parametrize("kind", [*KINDS, "admin"])
def test_each_page_is_shown_or_refused_by_the_apis_permissions(world, kind):
    name = "admin" if kind == "admin" else world.user(permissions=KINDS[kind])
    browser = world.browser(name)
    for path in PAGES:
        response = browser.get(path)
        expected = 403 if path in REFUSED[kind] else 200
        assert response.status_code == expected, (kind, path)
        if expected == 403:
            assert "403 Forbidden" in response.get_data(as_text=True)


@pytest.mark.parametrize("kind", [*KINDS, "admin"])
def test_the_menu_offers_only_the_pages_a_user_may_see(world, kind):
    name = "admin" if kind == "admin" else world.user(permissions=KINDS[kind])
    text = world.browser(name).text("/dashboard/")
    for path in PAGES[3:]:
        if path.count("/") == 2:
            assert (f'href="{path}"' in text) == (path not in REFUSED[kind]), (kind, path)


POSTS = {
    "/dashboard/jobs/action": {"action": "delete", "scope": "all"},
    "/dashboard/scheduled/metadata-sync/trigger": {},
    "/dashboard/scheduled/metadata-sync/disable": {},
    "/dashboard/scheduled/metadata-sync/schedule": {"schedule": "0 1 * * *",
                                                    "confirmed": "yes"},
    "/dashboard/limits": {"model": "m", "max_concurrency": "1"},
    "/dashboard/logout": {},
}


@pytest.mark.parametrize("path", POSTS)
def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(world, path):
    world.jobs("admin", 2)
    browser = world.browser("admin")
    for htmx in (False, True):
        response = browser.post(path, POSTS[path], csrf=False, htmx=htmx)
        assert response.status_code == 403
        assert "CSRF token is missing or wrong" in response.get_data(as_text=True)
    wrong = browser.post(path, {**POSTS[path], "csrf_token": "x" * 43}, csrf=False)
    assert wrong.status_code == 403
    assert world.api.get("/jobs/summary", headers=world.headers()).get_json()["total"] == 2
    assert world.activities("jobs.trigger") == [] and world.activities("jobs.update") == []
    assert world.api.get("/api/model-limits", headers=world.headers()).get_json() == []
    assert browser.get("/dashboard/").status_code == 200  # still signed in


@pytest.mark.parametrize("kind", ["client", "watcher", "auditor"])
def test_users_without_settings_update_see_no_buttons_and_get_403_if_they_post(world, kind):
    browser = world.browser(world.user(permissions=KINDS[kind]))
    if kind == "watcher":
        world.jobs("admin", 1)
        text = browser.text("/dashboard/limits")
        assert "<td>m</td>" in text and "Save" not in text and "<form" not in text.split(
            "limits-live")[1]
    for path in ("/dashboard/scheduled/metadata-sync/trigger", "/dashboard/limits",
                 "/dashboard/scheduled/metadata-sync/schedule"):
        response = browser.post(path, POSTS.get(path, {}))
        assert response.status_code == 403, path
    assert world.activities("jobs.trigger") == []
    assert world.api.get("/api/model-limits", headers=world.headers()).get_json() == []


def test_the_root_leads_a_signed_in_browser_to_the_dashboard(world):
    assert world.browser().get("/").headers["Location"] == "/docs"
    assert world.browser("admin").get("/").headers["Location"] == "/dashboard/"


def test_the_dashboard_is_not_in_the_openapi_document(world):
    paths = world.api.get("/openapi.json").get_json()["paths"]
    assert paths and not [path for path in paths if path.startswith("/dashboard")]


def test_the_served_htmx_is_the_pinned_package(world):
    response = world.browser().get("/dashboard/static/htmx.min.js")
    served = response.data
    response.close()  # a file response: its file closes with it
    assert response.status_code == 200 and served.startswith(b"var htmx=")
    lock = (ROOT / "package-lock.json").read_text()
    assert '"node_modules/htmx.org": {\n      "version": "2.0.11"' in lock
    installed = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
    if installed.exists():
        assert served == installed.read_bytes()


@pytest.mark.postgresql_only
def test_text_holding_nul_is_refused_as_the_api_refuses_it(world):
    """No PostgreSQL text holds U+0000: a 400 page there, nothing stored."""
    signed_out = world.browser()
    refused = signed_out.post("/dashboard/login", {"username": "ad\x00min", "password": "x"})
    assert refused.status_code == 400
    assert "may not hold the NUL character" in refused.get_data(as_text=True)
    admin = world.browser("admin")
    for path in ("/dashboard/jobs?model=a%00", "/dashboard/activity?action=%00"):
        response = admin.get(path)
        assert response.status_code == 400, path
        assert "may not hold the NUL character" in response.get_data(as_text=True)
    assert admin.get("/dashboard/jobs?model=a").status_code == 200


def test_secure_cookies_can_be_asked_for_behind_an_https_proxy(tmp_path):
    """Behind a proxy serving https the service sees http: JOBSAPI_SECURE_COOKIES=true
    marks the session cookie Secure all the same."""
    app = create_app({**database_settings(tmp_path), "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "JOBSAPI_SECURE_COOKIES": True})
    response = World(app).browser().sign_in("admin", ADMIN_PASSWORD)
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]
