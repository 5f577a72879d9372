"""The dashboard in a real browser (Debian's chromium, driven by Playwright, offline)
against the real server: sign in, read, filter, act without a reload, and no markup
from a job ever runs. A screenshot of each page goes to the test output directory
(JOBSAPI_TEST_OUTPUT, default var/test-output) under dashboard/."""

import os
import pathlib
import re

import pytest

from conftest import ADMIN_PASSWORD, ROOT, Api, LiveServer

OUTPUT = pathlib.Path(os.environ.get("JOBSAPI_TEST_OUTPUT", ROOT / "var" / "test-output"))
SHOTS = OUTPUT / "dashboard"
JOB = {"operation": "summarize", "prompts": ["Summarise the report."], "model": "gpt-4o",
       "requestData": {"maxTokens": 400}}
SCRIPT = "<script>window.pwned = 1</script>"
IMAGE = '<img src="/nothing" onerror="window.pwned = 2">'


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server of its own, so that the overview's counts are this module's."""
    server = LiveServer(tmp_path_factory.mktemp("dashboard-browser")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(live):
    """Jobs in several statuses: 3 PENDING, 1 PROCESSED, 2 ERROR_PROCESSING, and one
    whose prompt and clientReference hold markup."""
    admin = Api(live, "admin", ADMIN_PASSWORD)
    worker = admin.post("/api/users", json={"username": "worker", "password": "worker-pw-1",
                                            "role": "client", "permissions": ["jobs.work"]})
    assert worker.status_code == 201
    created = admin.post("/jobs/batch", json={"jobs": [JOB] * 6}).json()
    worker = Api(live, "worker", "worker-pw-1")
    claimed = worker.post("/jobs/claim", json={"workerId": "worker-a", "limit": 3}).json()["jobs"]
    for index, job in enumerate(claimed):
        token = job["lease"]["token"]
        if index < 2:
            answer = worker.post(f"/jobs/{job['jobId']}/fail", json={
                "leaseToken": token,
                "error": {"type": "Timeout", "message": "no answer", "retryable": False}})
        else:
            answer = worker.post(f"/jobs/{job['jobId']}/complete", json={"leaseToken": token})
        assert answer.status_code == 200, answer.text
    hostile = admin.post("/jobs", json={**JOB, "model": "other", "prompts": [SCRIPT],
                                        "clientReference": {"note": IMAGE}}).json()
    return {"admin": admin, "failed": [job["jobId"] for job in claimed[:2]],
            "hostile": hostile["jobId"], "created": created}


@pytest.fixture
def signed_in(live, world, page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live.base_url + "/dashboard/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:text('Overview')")
    page.errors = errors
    yield page
    assert page.errors == [] and page.outside == []


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_overview_shows_the_counts(live, signed_in):
    page = signed_in
    figure = lambda status: page.locator(f'[data-status="{status}"] .figure').inner_text()
    assert (figure("PENDING"), figure("PROCESSED"), figure("ERROR_PROCESSING")) == ("4", "1", "2")
    assert page.locator('[data-status="total"]').inner_text() == "7"
    stamp = page.locator("svg.chart")
    assert stamp.count() == 1
    shoot(page, "overview")
    page.click('[data-status="ERROR_PROCESSING"]')
    page.wait_for_selector("h1:text('Work jobs')")
    assert len(page.locator("tr[data-job]").all()) == 2


def test_filter_the_list_and_retry_a_failed_job_without_a_reload(live, world, signed_in):
    page = signed_in
    page.goto(live.base_url + "/dashboard/jobs")
    assert len(page.locator("tr[data-job]").all()) == 7
    page.check("input[name=status][value=ERROR_PROCESSING]")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=ERROR_PROCESSING"))
    rows = page.locator("tr[data-job]")
    assert sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.job)")) == sorted(
        world["failed"])
    shoot(page, "jobs")
    page.evaluate("window.sameDocument = true")
    target = world["failed"][0]
    page.check(f'input[name=job_id][value="{target}"]')
    page.click("button[name=action][value=retry]")
    confirm = page.wait_for_selector("#dialog .confirm")
    assert "This will retry 1 job." in " ".join(confirm.inner_text().split())
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#flash .notice:text('1 job retried.')")
    page.wait_for_function(f"!document.querySelector('tr[data-job=\"{target}\"]')")
    assert page.evaluate("window.sameDocument") is True  # no full page load happened
    assert world["admin"].get(f"/jobs/{target}").json()["status"] == "PENDING"


def test_trigger_a_scheduled_job_and_see_its_run(live, signed_in):
    page = signed_in
    page.goto(live.base_url + "/dashboard/scheduled")
    shoot(page, "scheduled")
    page.goto(live.base_url + "/dashboard/scheduled/metadata-sync")
    before = page.locator("tr[data-run]").count()
    page.evaluate("window.sameDocument = true")
    page.click("button:text('Trigger now')")
    page.wait_for_selector("#flash .notice:text('metadata-sync: triggered.')")
    page.wait_for_function(f"document.querySelectorAll('tr[data-run]').length > {before}")
    page.wait_for_selector("tr[data-run] .r-success", timeout=30_000)
    assert page.evaluate("window.sameDocument") is True
    shoot(page, "scheduled-job")


def test_edit_a_schedule_with_its_next_fire_times_previewed(live, world, signed_in):
    page = signed_in
    page.goto(live.base_url + "/dashboard/scheduled/prune-job-logs")
    page.fill("input[name=schedule]", "15 */8 * * *")
    page.click("form.schedule button[type=submit]")
    preview = page.wait_for_selector("#dialog .confirm")
    assert "every 8 hours at minute 15" in preview.inner_text()
    assert page.locator("#dialog .fire-times li").count() == 5
    title = page.locator("#dialog .fire-times time").first.get_attribute("title")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:15:00\.000Z", title)
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#flash .notice:text('schedule set to 15 */8 * * *')")
    assert world["admin"].get("/api/jobs/prune-job-logs").json()["schedule"] == "15 */8 * * *"


def test_markup_in_a_job_is_shown_as_text_and_never_runs(live, world, signed_in):
    page = signed_in
    page.goto(live.base_url + f"/dashboard/jobs/{world['hostile']}")
    page.wait_for_selector("h1:text('Job')")
    text = page.locator("table.fields").inner_text()
    assert SCRIPT in text and "window.pwned = 2" in text
    page.goto(live.base_url + "/dashboard/jobs?model=other")
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.goto(live.base_url + f"/dashboard/jobs/{world['hostile']}")
    assert page.evaluate("typeof window.pwned") == "undefined"
    shoot(page, "job")


@pytest.mark.parametrize("name, path", [
    ("failures", "/dashboard/failures"), ("activity", "/dashboard/activity"),
    ("workers", "/dashboard/workers"), ("limits", "/dashboard/limits")])
def test_every_page_renders_offline(live, signed_in, name, path):
    page = signed_in
    page.goto(live.base_url + path)
    page.wait_for_selector("main h1")
    assert page.locator(".error").count() == 0
    shoot(page, name)


def test_times_are_shown_in_the_browsers_zone_with_utc_on_hover(live, world, browser):
    context = browser.new_context(timezone_id="Asia/Kolkata")
    try:
        page = context.new_page()
        page.goto(live.base_url + "/dashboard/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.goto(live.base_url + f"/dashboard/jobs/{world['hostile']}")
        created = page.locator("table.fields time").first
        assert created.get_attribute("title").endswith("Z")
        assert "UTC" not in created.inner_text() and ("GMT+5:30" in created.inner_text()
                                                      or "IST" in created.inner_text())
    finally:
        context.close()
