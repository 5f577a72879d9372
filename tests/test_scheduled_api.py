"""The scheduled-jobs admin API (/api/jobs) over a real server: jobs, actions, run logs, access."""

import datetime as dt
import re
import secrets
import time

import pytest

from schedules.cron import next_fire

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, query_many
from jobsapi.timeutil import utcnow

pytestmark = pytest.mark.both_backends

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_FIELDS = set("id name description enabled running scheduled schedule timezone lastRun nextRun"
                 " lastResult lastDuration".split())
LOG_FIELDS = set("id jobId startedAt completedAt duration result triggeredBy details".split())
BUILTIN = {"backup-database": ("Backup Database", "15 1 * * *"),
           "cleanup-expired-tokens": ("Cleanup Expired Tokens", "0 0 * * *"),
           "cleanup-orphaned-files": ("Cleanup Orphaned Files", "0 2 * * 0"),
           "metadata-sync": ("Metadata Sync", "0 */6 * * *"),
           "prune-job-logs": ("Prune Job Logs", "45 0 * * *"),
           "purge-deleted-jobs": ("Purge Deleted Jobs", "30 0 * * *"),
           "purge-finished-jobs": ("Purge Finished Jobs", "15 0 * * *"),
           "reap-leases": ("Reap Leases", "* * * * * */15")}
ROUTES = [("GET", ""), ("PATCH", ""), ("POST", "/start"), ("POST", "/stop"),
          ("POST", "/trigger"), ("GET", "/logs")]
MILLISECOND = dt.timedelta(milliseconds=1)
LOG_PATHS = ["/api/jobs/logs/all", "/api/jobs/purge-deleted-jobs/logs"]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A private server: these tests change scheduled jobs, which are global state. Its
    loop is off (JOBSAPI_SCHEDULER=0; triggered runs still run): the log tests count runs
    exactly, and a built-in job's real slot (00:30 UTC, say) could add one."""
    server = LiveServer(tmp_path_factory.mktemp("scheduled"), JOBSAPI_SCHEDULER="0").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def boss(live):
    return Api(live, "admin", ADMIN_PASSWORD)


@pytest.fixture
def restore(boss):
    """Put every built-in job back to enabled, started, on its default schedule."""
    yield
    for job_id, (_, schedule) in BUILTIN.items():
        ok(boss.patch(f"/api/jobs/{job_id}", json={"enabled": True, "schedule": schedule}))


def execute(live, sql, rows=((),)):
    """Write straight into the server's database (data a test needs to exist)."""
    query_many(live.database, sql, rows)


@pytest.fixture(scope="module")
def injected(live):
    """120 finished runs of purge-deleted-jobs and 90 failed ones of prune-job-logs."""
    now = utcnow()
    for job_id, count, result in (("purge-deleted-jobs", 120, "success"), ("prune-job-logs", 90, "error")):
        times = [stamp(now - dt.timedelta(milliseconds=count - n)) for n in range(count)]
        execute(live, "INSERT INTO job_runs (job_id, started_at, completed_at, duration_ms, result,"
                      " triggered_by, details) VALUES (?, ?, ?, 0, ?, 'scheduler', ?)",
                [(job_id, at, at, result, f"injected {n}") for n, at in enumerate(times)])


def parse(value):  # an API time, as naive UTC
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(value):  # a time as the database stores it
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def next_slot(schedule, now):
    return next_fire(schedule, now)


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def page(api, path, **params):
    return ok(api.get(path, params=params))


def job(api, job_id):
    return page(api, f"/api/jobs/{job_id}")


def wait_for_run(api, job_id, run_id, timeout=15):
    """The run's log entry once it has finished (bounded poll)."""
    deadline = time.monotonic() + timeout
    while True:
        entry = next((log for log in page(api, f"/api/jobs/{job_id}/logs", limit=100)["logs"]
                      if log["id"] == run_id), None)
        if (entry and entry["result"] != "running") or time.monotonic() > deadline:
            return entry
        time.sleep(0.05)


def test_list_shows_the_builtin_jobs(boss, restore):
    now = utcnow()
    jobs = page(boss, "/api/jobs")
    assert [job["id"] for job in jobs] == sorted(BUILTIN)
    for body in jobs:
        assert set(body) == JOB_FIELDS
        name, schedule = BUILTIN[body["id"]]
        assert (body["name"], body["schedule"], body["timezone"]) == (name, schedule, "UTC")
        assert isinstance(body["description"], str) and body["description"]
        assert (body["enabled"], body["scheduled"], body["running"]) == (True, True, False)
        assert TIMESTAMP.match(body["nextRun"]) and parse(body["nextRun"]) == next_slot(schedule, now)
        assert body["lastRun"] is None or TIMESTAMP.match(body["lastRun"])
        assert body["lastResult"] in (None, "success", "error")
        assert body["lastDuration"] is None or isinstance(body["lastDuration"], int)
        assert job(boss, body["id"]) == body


def test_disable_unschedules_refuses_start_and_enable_reschedules(boss, restore):
    body = ok(boss.patch("/api/jobs/purge-deleted-jobs", json={"enabled": False}))
    assert (body["enabled"], body["scheduled"], body["nextRun"]) == (False, False, None)
    assert_error(boss.post("/api/jobs/purge-deleted-jobs/start"), 409, "disabled")
    assert job(boss, "purge-deleted-jobs") == body
    body = boss.patch("/api/jobs/purge-deleted-jobs", json={"enabled": True}).json()
    assert (body["enabled"], body["scheduled"]) == (True, True)
    assert parse(body["nextRun"]) == next_slot("30 0 * * *", utcnow())


def test_stop_start_and_enable_clearing_a_stop(boss, restore):
    assert ok(boss.post("/api/jobs/prune-job-logs/stop")) == {
        "success": True, "message": "Job stopped successfully"}
    stopped = job(boss, "prune-job-logs")
    assert (stopped["enabled"], stopped["scheduled"], stopped["nextRun"]) == (True, False, None)
    assert ok(boss.post("/api/jobs/prune-job-logs/start")) == {
        "success": True, "message": "Job started successfully"}
    started = job(boss, "prune-job-logs")
    assert started["scheduled"] is True and TIMESTAMP.match(started["nextRun"])
    assert boss.post("/api/jobs/prune-job-logs/stop").status_code == 200
    body = boss.patch("/api/jobs/prune-job-logs", json={"enabled": True}).json()
    assert (body["enabled"], body["scheduled"]) == (True, True) and body["nextRun"] is not None
    assert job(boss, "prune-job-logs") == body


def test_patch_schedule_changes_schedule_and_next_run(boss, restore):
    before = utcnow()
    body = ok(boss.patch("/api/jobs/metadata-sync", json={"schedule": "*/5 * * * *"}))
    next_run = parse(body["nextRun"])
    assert body["schedule"] == "*/5 * * * *" and body["scheduled"] is True
    assert before < next_run <= before + dt.timedelta(minutes=5)
    assert (next_run.minute % 5, next_run.second, next_run.microsecond) == (0, 0, 0)
    assert job(boss, "metadata-sync") == body


@pytest.mark.parametrize("body, field", [
    ({"schedule": "not a cron"}, "schedule"), ({"schedule": "61 * * * *"}, "schedule"),
    ({"schedule": "* * *"}, "schedule"), ({"schedule": ""}, "schedule"),
    ({"enabled": "yes"}, "enabled"), ({"enabled": 1}, "enabled"), ({"enabled": "true"}, "enabled"),
    ({"enabled": None}, "enabled"), ({"enabled": False, "colour": "red"}, "colour"), ({}, None),
])
def test_patch_rejects_bad_bodies(boss, body, field):
    before = job(boss, "cleanup-expired-tokens")
    error = assert_error(boss.patch("/api/jobs/cleanup-expired-tokens", json=body), 400)
    assert field is None or field in error["errors"]
    assert job(boss, "cleanup-expired-tokens") == before


def test_patch_rejects_a_schedule_that_never_fires(boss, restore):
    error = assert_error(boss.patch("/api/jobs/prune-job-logs", json={"schedule": "0 0 31 2 *"}), 400)
    assert "schedule" in error["errors"]
    assert job(boss, "prune-job-logs")["schedule"] == "45 0 * * *"
    assert boss.get("/api/jobs").status_code == 200 and boss.get("/health").status_code == 200


def test_start_and_stop_survive_a_restart_and_hold_across_processes(tmp_path):
    first = LiveServer(tmp_path).start()
    try:
        api = Api(first, "admin", ADMIN_PASSWORD)
        assert api.post("/api/jobs/cleanup-expired-tokens/stop").status_code == 200
        assert api.patch("/api/jobs/prune-job-logs", json={"enabled": False}).status_code == 200
    finally:
        first.stop()
    second, other = LiveServer(tmp_path).start(), None
    try:
        api = Api(second, "admin", ADMIN_PASSWORD)
        jobs = {body["id"]: body for body in page(api, "/api/jobs")}
        cleanup, prune = jobs["cleanup-expired-tokens"], jobs["prune-job-logs"]
        assert (cleanup["enabled"], cleanup["scheduled"], cleanup["nextRun"]) == (True, False, None)
        assert (prune["enabled"], prune["scheduled"], prune["nextRun"]) == (False, False, None)
        assert jobs["purge-deleted-jobs"]["scheduled"] is True
        other = LiveServer(tmp_path).start()
        assert api.post("/api/jobs/cleanup-expired-tokens/start").status_code == 200
        seen = job(Api(other, "admin", ADMIN_PASSWORD), "cleanup-expired-tokens")
        assert seen["scheduled"] is True and seen["nextRun"] is not None
    finally:
        second.stop()
        if other is not None:
            other.stop()


def test_trigger_runs_the_task_and_logs_it(live, boss):
    now = utcnow()
    expired = (1, "expired-family", secrets.token_hex(32), stamp(now - dt.timedelta(days=31)),
               stamp(now - dt.timedelta(days=1)), None)
    revoked = (1, "dead-family", secrets.token_hex(32), stamp(now), stamp(now + dt.timedelta(days=9)),
               stamp(now))
    execute(live, "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at,"
                  " revoked_at) VALUES (?, ?, ?, ?, ?, ?)", [expired, revoked])
    execute(live, "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
            [(secrets.token_hex(8), stamp(now - dt.timedelta(minutes=1)))])
    before = job(boss, "cleanup-expired-tokens")
    body = ok(boss.post("/api/jobs/cleanup-expired-tokens/trigger"))
    assert set(body) == {"success", "message", "runId"} and isinstance(body["runId"], int)
    assert (body["success"], body["message"]) == (True, "Job triggered successfully")
    run = wait_for_run(boss, "cleanup-expired-tokens", body["runId"])
    assert set(run) == LOG_FIELDS
    assert (run["jobId"], run["result"], run["triggeredBy"]) == (
        "cleanup-expired-tokens", "success", f"user:{boss.user['id']}")
    assert run["details"] == ("Deleted 2 expired or revoked refresh tokens and 1 expired revoked"
                              " access tokens")
    assert TIMESTAMP.match(run["startedAt"]) and TIMESTAMP.match(run["completedAt"])
    assert run["duration"] == (parse(run["completedAt"]) - parse(run["startedAt"])) // MILLISECOND
    after = job(boss, "cleanup-expired-tokens")
    assert (after["lastRun"], after["lastResult"], after["lastDuration"], after["running"]) == (
        run["startedAt"], "success", run["duration"], False)
    assert after["nextRun"] == before["nextRun"]
    ok(boss.post("/api/auth/refresh", json={"refreshToken": boss.tokens["refreshToken"]}))


def test_a_runs_start_and_end_are_in_the_server_log(live, boss):
    run_id = ok(boss.post("/api/jobs/metadata-sync/trigger"))["runId"]
    run = wait_for_run(boss, "metadata-sync", run_id)
    text = live.log_text()
    assert f"run {run_id} of metadata-sync started (user:{boss.user['id']})" in text
    assert f"run {run_id} of metadata-sync ended: success in {run['duration']} ms" in text


def test_trigger_while_a_run_is_active_is_a_conflict(live, boss):
    now = stamp(utcnow())
    execute(live, "INSERT INTO job_runs (job_id, started_at, result, triggered_by, owner, heartbeat_at)"
                  " VALUES ('prune-job-logs', ?, 'running', 'scheduler', 'elsewhere', ?)", [(now, now)])
    try:
        total = page(boss, "/api/jobs/prune-job-logs/logs")["total"]
        assert job(boss, "prune-job-logs")["running"] is True
        assert_error(boss.post("/api/jobs/prune-job-logs/trigger"), 409, "already running")
        assert page(boss, "/api/jobs/prune-job-logs/logs")["total"] == total
    finally:
        execute(live, "DELETE FROM job_runs WHERE owner = 'elsewhere'")
    assert job(boss, "prune-job-logs")["running"] is False


@pytest.mark.parametrize("method, suffix", ROUTES)
@pytest.mark.parametrize("job_id, code", [("Bad_ID", 400), ("a" * 101, 400), ("no-such-job", 404)])
def test_job_routes_check_the_id(boss, method, suffix, job_id, code):
    kwargs = {"json": {"enabled": True}} if method == "PATCH" else {}
    response = boss.request(method, f"/api/jobs/{job_id}{suffix}", **kwargs)
    assert_error(response, code, "Invalid job ID format" if code == 400 else "Job not found")


@pytest.fixture(scope="module")
def clients(boss):
    """A client without settings.update (but with the other permissions), and one with it."""
    made = []
    for permissions in (["activities.read", "users.manage"], ["settings.update"]):
        username, password = f"client-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        assert boss.post("/api/users", json={"username": username, "password": password,
                                             "permissions": permissions}).status_code == 201
        made.append(Api(boss.server, username, password))
    return made


@pytest.mark.parametrize("method, path", [("GET", "/api/jobs"), ("GET", "/api/jobs/logs/all")] + [
    (method, f"/api/jobs/cleanup-expired-tokens{suffix}") for method, suffix in ROUTES])
def test_job_routes_need_a_token_and_settings_update(live, boss, clients, restore, method, path):
    kwargs = {"json": {"enabled": False}} if method == "PATCH" else {}
    before = job(boss, "cleanup-expired-tokens")
    assert_error(Api(live).request(method, path, **kwargs), 401)
    assert_error(clients[0].request(method, path, **kwargs), 403, "settings.update")
    assert job(boss, "cleanup-expired-tokens") == before
    body = ok(clients[1].request(method, path, **kwargs))
    if path.endswith("/trigger"):
        assert wait_for_run(boss, "cleanup-expired-tokens", body["runId"])["result"] == "success"


def test_job_logs_page_newest_first(boss, injected):
    path = "/api/jobs/purge-deleted-jobs/logs"
    first = page(boss, path)
    assert {k: v for k, v in first.items() if k != "logs"} == {"total": 120, "limit": 50, "offset": 0}
    assert len(first["logs"]) == 50 and first["logs"][0]["details"] == "injected 119"
    wide = page(boss, path, limit=500)
    assert (wide["limit"], len(wide["logs"]), wide["logs"][:50]) == (100, 100, first["logs"])
    ids = [log["id"] for log in wide["logs"]]
    starts = [log["startedAt"] for log in wide["logs"]]
    assert ids == sorted(ids, reverse=True) and starts == sorted(starts, reverse=True)
    assert page(boss, path, limit=50, offset=50)["logs"] == wide["logs"][50:]
    rest = page(boss, path, limit=100, offset=100)
    assert (rest["offset"], len(rest["logs"]), rest["logs"][-1]["details"]) == (100, 20, "injected 0")
    assert {(frozenset(log), log["jobId"], log["result"], log["triggeredBy"]) for log in wide["logs"]} == {
        (frozenset(LOG_FIELDS), "purge-deleted-jobs", "success", "scheduler")}


def test_all_logs_page_and_filter(boss, injected):
    first = page(boss, "/api/jobs/logs/all")
    assert (first["limit"], first["offset"], len(first["logs"])) == (100, 0, 100)
    assert first["total"] >= 210
    wide = page(boss, "/api/jobs/logs/all", limit=500)
    assert (wide["limit"], len(wide["logs"]), wide["logs"][:100]) == (200, 200, first["logs"])
    order = [(log["startedAt"], log["id"]) for log in wide["logs"]]
    assert order == sorted(order, reverse=True)
    assert page(boss, "/api/jobs/logs/all", limit=10, offset=5)["logs"] == first["logs"][5:15]
    errors = page(boss, "/api/jobs/logs/all", result="error", limit=200)
    assert errors["total"] >= 90 and {log["result"] for log in errors["logs"]} == {"error"}
    purge = page(boss, "/api/jobs/logs/all", jobId="purge-deleted-jobs", limit=200)
    assert purge["total"] == 120 and {log["jobId"] for log in purge["logs"]} == {"purge-deleted-jobs"}
    both = page(boss, "/api/jobs/logs/all", jobId="purge-deleted-jobs", result="error")
    assert (both["total"], both["logs"]) == (0, [])


@pytest.mark.parametrize("path, params", [(path, params) for path in LOG_PATHS for params in (
    {"limit": "abc"}, {"limit": "-1"}, {"offset": "-1"}, {"limit": "1.5"}, {"offset": "x"})] + [
    ("/api/jobs/logs/all", {"result": "bogus"}), ("/api/jobs/logs/all", {"jobId": "Bad_ID"})])
def test_logs_reject_bad_query_parameters(admin, path, params):
    error = assert_error(admin.get(path, params=params), 400)
    assert set(error["errors"]) == set(params)


@pytest.mark.parametrize("path", LOG_PATHS)
def test_logs_answer_a_huge_offset_without_a_server_error(admin, path):
    # The seed does not say whether this is an empty page or a 400; never a 500.
    response = admin.get(path, params={"offset": str(2 ** 63)})
    assert response.status_code in (200, 400), response.text


def test_example_workflow(boss, restore):
    """The seed's example workflow, step by step."""
    assert len(page(boss, "/api/jobs")) == len(BUILTIN)
    assert ok(boss.patch("/api/jobs/metadata-sync", json={"enabled": False}))["enabled"] is False
    run_id = ok(boss.post("/api/jobs/cleanup-expired-tokens/trigger"))["runId"]
    assert wait_for_run(boss, "cleanup-expired-tokens", run_id)["result"] == "success"
    logs = page(boss, "/api/jobs/metadata-sync/logs", limit=20)
    assert logs["limit"] == 20 and logs["offset"] == 0
    assert len(logs["logs"]) == min(20, logs["total"])
    assert all(entry["jobId"] == "metadata-sync" for entry in logs["logs"])


def test_logs_are_newest_started_first_when_ids_disagree(tmp_path):
    """Rows whose ids and start times disagree (a run's start is taken before its row is
    written): logs list the latest start first, ties by id, and pages follow that order."""
    server = LiveServer(tmp_path, JOBSAPI_SCHEDULER="0").start()
    try:
        base = utcnow().replace(microsecond=0) - dt.timedelta(hours=1)
        starts = {"b": 2, "d": 1, "a": 3, "e": 1, "m": 2}  # details: seconds after base
        rows = [("prune-job-logs" if details == "m" else "purge-deleted-jobs",
                 stamp(base + dt.timedelta(seconds=seconds)),
                 stamp(base + dt.timedelta(seconds=seconds, milliseconds=7)),
                 "error" if details == "a" else "success", details)
                for details, seconds in starts.items()]
        execute(server, "INSERT INTO job_runs (job_id, started_at, completed_at, duration_ms,"
                        " result, triggered_by, details) VALUES (?, ?, ?, 7, ?, 'scheduler', ?)",
                rows)
        api = Api(server, "admin", ADMIN_PASSWORD)
        path = "/api/jobs/purge-deleted-jobs/logs"
        logs = page(api, path)["logs"]
        assert [log["details"] for log in logs] == ["a", "b", "e", "d"]
        assert [page(api, path, limit=1, offset=n)["logs"][0] for n in range(4)] == logs
        every = page(api, "/api/jobs/logs/all")["logs"]
        assert [log["details"] for log in every] == ["a", "m", "b", "e", "d"]
        assert [page(api, "/api/jobs/logs/all", limit=2, offset=n)["logs"]
                for n in (0, 2, 4)] == [every[0:2], every[2:4], every[4:]]
        described = job(api, "purge-deleted-jobs")
        assert (described["lastRun"], described["lastResult"], described["lastDuration"]) == (
            logs[0]["startedAt"], "error", 7)
    finally:
        server.stop()
