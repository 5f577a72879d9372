"""The dashboard's pages and actions (jobsapi/dashboard/): what each shows and what each
action stores and logs, through Flask's test client."""

import re

import pytest

from dashboard_support import World

pytestmark = pytest.mark.both_backends


@pytest.fixture
def world(app):
    return World(app)


def ids_listed(text):
    return re.findall(r'<tr data-job="([0-9a-f]{24})">', text)


def test_the_overview_counts_jobs_by_status_per_model_and_per_hour(world):
    world.jobs("admin", 3, model="alpha")
    world.jobs("admin", 2, model="beta")
    world.fail("alpha", 1, {"type": "Timeout", "message": "slow"}, processed=1)
    text = world.browser("admin").text("/dashboard/")
    figures = dict(re.findall(r'data-status="(\w+)">\s*<span class="figure">([\d,]+)<', text))
    assert figures == {"PENDING": "3", "PROCESSING": "0", "PROCESSED": "1", "CONSUMED": "0",
                       "ERROR_PROCESSING": "1", "ERROR_CONSUMING": "0", "CANCELED": "0"}
    assert 'href="/dashboard/jobs?status=PENDING"' in text
    assert "created: 5 jobs" in text and "processed: 1 job" in text and "failed: 1 job" in text
    assert re.search(r'<a href="/dashboard/jobs\?model=alpha">alpha</a></td>\s*'
                     r'<td class="num">1</td>', text)
    assert "<svg" in text and "<rect" in text
    assert "1 worker seen in the last 24 hours" in text
    assert "Loop: <strong" in text


def test_a_client_sees_its_own_jobs_only(world):
    mine, theirs = world.user(), world.user()
    own = world.jobs(mine, 2)
    other = world.jobs(theirs, 3)
    browser = world.browser(mine)
    assert sorted(ids_listed(browser.text("/dashboard/jobs"))) == sorted(own)
    assert "(yours)" in browser.text("/dashboard/")
    response = browser.get(f"/dashboard/jobs/{other[0]}")
    assert response.status_code == 404
    assert f"Job not found: {other[0]}" in response.get_data(as_text=True)
    assert browser.get("/dashboard/jobs/not-an-id").status_code == 404


def test_the_list_filters_and_pages_newest_first(world):
    client = world.user()
    first = world.jobs(client, 30, model="alpha", clientReference={"batch": "b1"})
    second = world.jobs(client, 30, model="beta", operation="classify")
    browser = world.browser("admin")
    page = browser.text("/dashboard/jobs")
    listed = ids_listed(page)
    assert listed == sorted(first + second, reverse=True)[:50]
    after = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert ids_listed(browser.text(after)) == sorted(first + second, reverse=True)[50:]
    assert sorted(ids_listed(browser.text("/dashboard/jobs?model=alpha"))) == sorted(first)
    assert len(ids_listed(browser.text("/dashboard/jobs?operation=classify"))) == 30
    assert len(ids_listed(browser.text(f"/dashboard/jobs?client={client}"))) == 50
    assert sorted(ids_listed(browser.text(
        "/dashboard/jobs?ref_key=batch&ref_value=b1"))) == sorted(first)
    assert sorted(ids_listed(browser.text(
        "/dashboard/jobs?clientReference.batch=b1"))) == sorted(first)
    assert ids_listed(browser.text("/dashboard/jobs?status=CANCELED")) == []
    assert ids_listed(browser.text("/dashboard/jobs?until=2000-01-01")) == []
    assert len(ids_listed(browser.text("/dashboard/jobs?from=2000-01-01T00:00Z"))) == 50
    for bad in ("status=DONE", "from=yesterday", "client=nobody", "after=zz",
                "ref_key=a%20b&ref_value=1"):
        response = browser.get(f"/dashboard/jobs?{bad}")
        assert response.status_code == 400, bad
        assert "400 Bad Request" in response.get_data(as_text=True)


def test_retry_asks_how_many_then_moves_the_failed_jobs_and_logs_it(world):
    world.jobs("admin", 4, model="r")
    failed = world.fail("r", 3, {"type": "Timeout", "message": "slow"})
    browser = world.browser("admin")
    asked = browser.post("/dashboard/jobs/action", {"action": "retry", "scope": "all",
                                                    "model": "r"}, htmx=True)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "This will <strong>retry</strong>" in text
    assert '<strong class="count">3</strong> jobs' in text
    assert all(world.job(job_id)["status"] == "ERROR_PROCESSING" for job_id in failed)
    done = browser.post("/dashboard/jobs/action", {"action": "retry", "scope": "all",
                                                   "model": "r", "confirmed": "yes"},
                        htmx=True)
    assert done.headers["HX-Trigger"] == "jobs-changed"
    assert "3 jobs retried." in done.get_data(as_text=True)
    for job_id in failed:
        job = world.job(job_id)
        assert job["status"] == "PENDING" and job["attempts"] == 0
    [entry] = world.activities("work_jobs.retry")
    assert entry["username"] == "admin" and entry["details"]["count"] == 3
    assert entry["details"]["filters"] == {"model": "r"}


def test_cancel_and_delete_ticked_jobs_without_javascript(world):
    jobs = world.jobs("admin", 3)
    browser = world.browser("admin")
    asked = browser.post("/dashboard/jobs/action", {"action": "cancel", "job_id": jobs[:2],
                                                    "next": "/dashboard/jobs?model=m"})
    assert "<strong class=\"count\">2</strong> jobs" in asked.get_data(as_text=True)
    assert "<html" in asked.get_data(as_text=True)  # a whole page without htmx
    done = browser.post("/dashboard/jobs/action", {"action": "cancel", "job_id": jobs[:2],
                                                   "confirmed": "yes",
                                                   "next": "/dashboard/jobs?model=m"})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard/jobs?model=m"
    assert "2 jobs canceled." in browser.text("/dashboard/jobs?model=m")
    assert [world.job(job_id)["status"] for job_id in jobs] == ["CANCELED", "CANCELED",
                                                                "PENDING"]
    again = browser.post("/dashboard/jobs/action", {"action": "cancel", "job_id": jobs[:2]})
    assert "None of the selected jobs can be canceled" in again.get_data(as_text=True)
    gone = browser.post("/dashboard/jobs/action", {
        "action": "delete", "job_id": [jobs[2]], "confirmed": "yes",
        "next": "https://x.example/"})
    assert gone.headers["Location"] == "/dashboard/jobs"  # never off the dashboard
    assert world.job(jobs[2]) is None
    [entry] = world.activities("work_jobs.delete")
    assert entry["resourceId"] == jobs[2] and entry["details"]["count"] == 1


def test_a_client_cannot_touch_another_clients_jobs(world):
    mine, theirs = world.user(), world.user()
    other = world.jobs(theirs, 2)
    own = world.jobs(mine, 1)
    browser = world.browser(mine)
    for scope in ({"job_id": other}, {"scope": "all"}):
        done = browser.post("/dashboard/jobs/action", {"action": "delete", "confirmed": "yes",
                                                       **scope})
        assert done.status_code == 302
    assert all(world.job(job_id) is not None for job_id in other)
    assert world.job(own[0]) is None  # "all that match" was its own job only


def test_the_job_detail_shows_every_field_attempts_and_allowed_actions(world):
    long_prompt = "word " * 200
    [job_id] = world.jobs("admin", 1, model="d", prompts=[long_prompt, "short"],
                          clientReference={"order": 42})
    world.fail("d", 1, {"type": "Timeout", "message": "the model did not answer"})
    text = world.browser("admin").text(f"/dashboard/jobs/{job_id}")
    assert "ERROR_PROCESSING" in text and "&#34;order&#34;: 42" in text
    assert "<details><summary>word word" in text and "(1,000 characters)" in text
    assert "#1 failed" in text and "w-1" in text and "the model did not answer" in text
    assert re.search(r'<time datetime="[0-9T:.-]+Z" title="[0-9T:.-]+Z">', text)
    buttons = re.findall(r'name="action" value="(\w+)"', text)
    assert buttons == ["retry", "delete"]


def test_failures_are_grouped_by_error_and_a_group_retried(world):
    world.jobs("admin", 6, model="f")
    world.fail("f", 3, {"type": "Timeout", "message": "slow"})
    world.fail("f", 2, {"type": "RateLimit", "message": "429"})
    [untyped] = world.jobs("admin", 1, model="g")  # an error without a type: its message
    world.api.patch(f"/jobs/{untyped}", headers=world.headers(), json={
        "status": "ERROR_PROCESSING", "errorData": {"message": "Connection reset " + "x" * 99}})
    browser = world.browser("admin")
    text = browser.text("/dashboard/failures")
    groups = re.findall(r'<tr data-group="([^"]*)"><td><code>[^<]*</code></td>'
                        r'<td class="num">(\d+)</td>', text)
    assert groups[:2] == [("Timeout", "3"), ("RateLimit", "2")]
    assert groups[2] == ("Connection reset " + "x" * 43, "1")  # its first 60 characters
    browser.post("/dashboard/jobs/action", {"action": "retry", "scope": "all",
                                            "status": "ERROR_PROCESSING", "error": "Timeout",
                                            "confirmed": "yes"})
    summary = world.api.get("/jobs/summary?model=f", headers=world.headers()).get_json()
    assert summary["PENDING"] == 4 and summary["ERROR_PROCESSING"] == 2


def test_markup_in_a_jobs_fields_is_shown_as_text(world):
    script, image = "<script>window.pwned = 1</script>", '<img src=x onerror="window.pwned=1">'
    [job_id] = world.jobs("admin", 1, model="<b>m</b>", prompts=[script],
                          clientReference={"note": image})
    world.api.patch(f"/jobs/{job_id}", headers=world.headers(), json={
        "status": "ERROR_PROCESSING", "errorData": {"type": image, "message": script}})
    browser = world.browser("admin")
    for path in (f"/dashboard/jobs/{job_id}", "/dashboard/jobs", "/dashboard/failures",
                 "/dashboard/"):
        text = browser.text(path)
        assert "<script>window" not in text and "<img src=x" not in text, path
        assert "<b>m</b>" not in text, path
    detail = browser.text(f"/dashboard/jobs/{job_id}")
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in detail


@pytest.mark.parametrize("path, fragment", [
    ("/dashboard/", "overview-live"), ("/dashboard/failures", "failures-live"),
    ("/dashboard/workers", "workers-live"), ("/dashboard/scheduled", "scheduled-live")])
def test_changing_figures_refresh_every_5_s_while_the_tab_is_visible(world, path, fragment):
    browser = world.browser("admin")
    page = browser.text(path)
    assert re.search(rf'<div id="{fragment}" hx-get="{re.escape(path)}\??" hx-trigger='
                     r'"every 5s \[document.visibilityState === \'visible\'\]"', page)
    response = browser.get(path, headers={"HX-Request": "true", "HX-Target": fragment})
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and text.lstrip().startswith(f'<div id="{fragment}"')
    assert "<html" not in text


def test_acting_on_more_jobs_than_a_chunk_takes_them_all(world):
    """All that match are acted on a chunk at a time (workjobs.each_chunk), each chunk its
    own short write: more than one chunk is canceled, then deleted, whole."""
    ids = world.jobs("admin", 700, model="many") + world.jobs("admin", 500, model="many")
    browser = world.browser("admin")
    for action, done, count in (("cancel", "canceled", 1200), ("delete", "deleted", 1200)):
        answer = browser.post("/dashboard/jobs/action", {"action": action, "scope": "all",
                                                         "model": "many", "confirmed": "yes"},
                              htmx=True)
        assert f"{count:,} jobs {done}." in answer.get_data(as_text=True)
        if action == "cancel":
            assert {world.job(job_id)["status"] for job_id in ids[::97]} == {"CANCELED"}
    assert all(world.job(job_id) is None for job_id in ids[::97])
