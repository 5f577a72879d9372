"""The dashboard's scheduled jobs, model limits and activity pages (jobsapi/dashboard/
scheduled.py, queue.py, activity.py, cronwords.py) through Flask's test client."""

import datetime as dt
import re

import pytest

from conftest import query_many, wait_for
from dashboard_support import World
from jobsapi.dashboard import cronwords

pytestmark = pytest.mark.both_backends

TASK = "metadata-sync"


@pytest.fixture
def world(app):
    world = World(app)
    yield world
    app.extensions["jobsapi.scheduler"].stop(5)  # the runs a trigger started


def insert_runs(app, results, job_id=TASK):
    """Runs written straight into the table, oldest first, one minute apart."""
    start = dt.datetime(2024, 1, 15, 6, 0)
    query_many(
        app.config["JOBSAPI_DATABASE"],
        "INSERT INTO job_runs (job_id, started_at, completed_at, duration_ms, result,"
        " triggered_by, owner, heartbeat_at) VALUES (?, ?, ?, ?, ?, 'scheduler', 'x', ?)",
        [(job_id, str(start + dt.timedelta(minutes=i)),
          None if result == "running" else str(start + dt.timedelta(minutes=i, seconds=2)),
          None if result == "running" else 2000, result,
          str(start + dt.timedelta(minutes=i))) for i, result in enumerate(results)])


@pytest.mark.parametrize("expression, words", [
    ("* * * * *", "every minute"), ("*/15 * * * *", "every 15 minutes"),
    ("0 */6 * * *", "every 6 hours"), ("30 * * * *", "every hour at minute 30"),
    ("0 3 * * *", "daily at 03:00"), ("15 4 * * 0", "every Sunday at 04:15"),
    ("0 2 1 * *", "monthly on day 1 at 02:00"), ("* * * * * */10", "every 10 seconds"),
    ("0 9-17 * * 1-5", "cron: 0 9-17 * * 1-5"),
])
def test_a_schedule_in_words(expression, words):
    assert cronwords.describe(expression) == words


def test_the_list_shows_schedule_in_words_next_run_last_result_and_runs(world, app):
    insert_runs(app, ["success"] * 28 + ["error", "success", "error"])
    text = world.browser("admin").text("/dashboard/scheduled")
    row = text.split(f'<tr data-job="{TASK}">')[1].split("</tr>")[0]
    assert "<code>0 * * * *</code>" in row or "<code>" in row
    assert cronwords.describe(re.search(r"<code>([^<]+)</code><br>", row).group(1)) in row
    assert re.search(r"in \d+ (min|s|h)", row)
    assert '<span class="r-error result">error</span> in 2 s' in row
    strip = re.findall(r'<a class="r-(\w+)"', row)
    assert len(strip) == 30 and strip[-3:] == ["error", "success", "error"]


def test_trigger_runs_the_task_logs_it_and_a_second_is_already_running(world, app):
    settings = world.user(permissions=["settings.update"])
    browser = world.browser(settings)
    done = browser.post(f"/dashboard/scheduled/{TASK}/trigger", htmx=True)
    assert done.status_code == 200 and done.headers["HX-Trigger"] == "scheduled-changed"
    assert wait_for(lambda: 'class="result r-success">success' in browser.text(
        f"/dashboard/scheduled/{TASK}"), timeout=30)
    [entry] = world.activities("jobs.trigger")
    assert entry["username"] == settings and entry["resourceId"] == TASK
    insert_runs(app, ["running"], job_id="prune-job-logs")
    busy = browser.post("/dashboard/scheduled/prune-job-logs/trigger", htmx=True)
    assert busy.status_code == 409 and busy.headers["HX-Retarget"] == "#flash"
    assert "Job is already running" in busy.get_data(as_text=True)


def test_disable_enable_stop_and_start(world):
    browser = world.browser("admin")
    path = f"/dashboard/scheduled/{TASK}"
    assert browser.post(f"{path}/disable").headers["Location"] == path
    row = browser.text(path).split(f'<tr data-job="{TASK}">')[1].split("</tr>")[0]
    assert "<td>disabled</td>" in row and ">Enable</button>" in row and "Start" not in row
    refused = browser.post(f"{path}/start")
    assert refused.status_code == 409 and "enable it before" in refused.get_data(as_text=True)
    browser.post(f"{path}/enable")
    browser.post(f"{path}/stop")
    state = world.api.get(f"/api/jobs/{TASK}", headers=world.headers()).get_json()
    assert state["enabled"] is True and state["scheduled"] is False
    browser.post(f"{path}/start")
    assert world.api.get(f"/api/jobs/{TASK}", headers=world.headers()).get_json()["scheduled"]
    actions = [entry["action"] for entry in world.api.get(
        "/api/activities?resource=job", headers=world.headers()).get_json()["activities"]]
    assert actions == ["jobs.start", "jobs.stop", "jobs.update", "jobs.update"]


def test_a_new_schedule_is_previewed_then_saved(world):
    browser = world.browser("admin")
    path = f"/dashboard/scheduled/{TASK}/schedule"
    preview = browser.post(path, {"schedule": "30  */4 * * *"}, htmx=True)
    text = preview.get_data(as_text=True)
    assert "every 4 hours at minute 30" in text and len(re.findall(r"<li><time", text)) == 5
    times = re.findall(r'<li><time datetime="([^"]+)"', text)
    assert all(int(stamp[11:13]) % 4 == 0 and stamp[14:16] == "30" for stamp in times)
    assert world.api.get(f"/api/jobs/{TASK}", headers=world.headers()).get_json()[
        "schedule"] != "30 */4 * * *"
    for bad in ("every day", "0 0 31 2 *", "* * *"):
        refused = browser.post(path, {"schedule": bad, "confirmed": "yes"})
        assert refused.status_code == 400 and "schedule:" in refused.get_data(as_text=True)
    saved = browser.post(path, {"schedule": "30 */4 * * *", "confirmed": "yes"})
    assert saved.status_code == 302
    assert world.api.get(f"/api/jobs/{TASK}", headers=world.headers()).get_json()[
        "schedule"] == "30 */4 * * *"
    [entry] = world.activities("jobs.update")
    assert entry["details"] == {"schedule": "30 */4 * * *"}


def test_the_run_log_is_paged_and_filtered_by_result(world, app):
    insert_runs(app, ["success", "error"] * 15)
    browser = world.browser("admin")
    first = browser.text(f"/dashboard/scheduled/{TASK}")
    assert len(re.findall(r"<tr data-run=", first)) == 20 and "30 run(s)." in first
    older = browser.text(f"/dashboard/scheduled/{TASK}?offset=20")
    assert len(re.findall(r"<tr data-run=", older)) == 10
    errors = browser.text(f"/dashboard/scheduled/{TASK}?result=error")
    assert "15 run(s)." in errors
    assert browser.get(f"/dashboard/scheduled/{TASK}?result=bad").status_code == 400
    assert browser.get("/dashboard/scheduled/no-such-task").status_code == 404


def test_model_limits_are_set_shown_and_removed_and_logged(world):
    world.jobs("admin", 1, model="gpt")
    browser = world.browser("admin")
    saved = browser.post("/dashboard/limits", {"model": "gpt", "max_concurrency": "2",
                                               "tokens_per_minute": "1000",
                                               "paused_until": "2030-01-01T00:00"})
    assert saved.status_code == 302
    stored = world.api.get("/api/model-limits", headers=world.headers()).get_json()
    assert stored[0]["maxConcurrency"] == 2 and stored[0]["requestsPerMinute"] is None
    assert stored[0]["pausedUntil"] == "2030-01-01T00:00:00.000Z"
    text = browser.text("/dashboard/limits")
    assert 'value="1000"' in text and "gpt" in text
    watcher = world.browser(world.user(permissions=["jobs.work"]))
    assert ">2</td>" in watcher.text("/dashboard/limits")
    bad = browser.post("/dashboard/limits", {"model": "gpt", "max_concurrency": "-1"})
    assert bad.status_code == 400
    browser.post("/dashboard/limits", {"model": "gpt", "remove": "yes"})
    assert world.api.get("/api/model-limits", headers=world.headers()).get_json() == []
    details = [entry["details"] for entry in world.activities("models.limits.update")]
    assert details[0] == {"removed": True} and details[1]["maxConcurrency"] == 2


def test_the_activity_log_is_filtered_and_paged(world):
    browser = world.browser("admin")
    for _ in range(3):
        browser.post(f"/dashboard/scheduled/{TASK}/stop")
    text = browser.text("/dashboard/activity?action=jobs.stop")
    assert text.count("<code>jobs.stop</code>") == 3 and "auth.login" not in text
    assert "<code>auth.login</code>" in browser.text("/dashboard/activity?username=admin")
    assert "No activity matches." in browser.text("/dashboard/activity?resource=nothing")
    assert browser.get("/dashboard/activity?before=x").status_code == 400
