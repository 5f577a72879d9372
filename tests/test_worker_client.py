"""The worker program (jobsapi/worker.py): in a subprocess against the real server
(outcomes, cancel, SIGTERM, an outage, the standard library alone), and in-process on a
stand-in client (slots, releases, lost leases, refused results)."""

import ast
import json
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import ADMIN_PASSWORD, ROOT, Api, LiveServer, wait_for
from jobsapi.worker import Permanent, Result, Retry, Worker, parse_args
from jobsapi.workerclient import BACKOFF_CAP, Backoff, Refused, Unavailable, outcome

WORKER_FILES = [ROOT / "jobsapi" / "worker.py", ROOT / "jobsapi" / "workerclient.py"]
SERVER_PACKAGES = ("flask", "peewee", "marshmallow", "werkzeug", "jobsapi")
EXAMPLE = "examples.worker_handler:handle"


class WorkerProcess:
    """The worker program in a subprocess, its output in a log file."""

    def __init__(self, args, cwd, log_path):
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.process = subprocess.Popen(args, cwd=cwd, stdout=self.log_file,
                                        stderr=subprocess.STDOUT)

    def stop(self):
        """SIGTERM, then its exit status (killed after 30 s: a test failure)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode

    def log(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def model():
    """A model name of the test's own: its worker claims only its jobs on the shared server."""
    return f"fake-{secrets.token_hex(4)}"


@pytest.fixture
def start_worker(tmp_path, model):
    """Start `python -m jobsapi.worker` (or `command`) with options, for the test's model
    only; stopped after. Its claims wait at most a second on the server, so that a stop
    is prompt."""
    started = []

    def start(server, api_key, handler=EXAMPLE, *options, command=None, cwd=ROOT):
        command = command or [sys.executable, "-m", "jobsapi.worker"]
        args = [*command, "--url", server.base_url, "--api-key", api_key, "--handler", handler,
                "--models", model, "--wait", "1", *options]
        worker = WorkerProcess(args, cwd, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def new_worker_key(admin):
    """A fresh user holding jobs.work, and an API key of theirs."""
    response = admin.post("/api/users", json={
        "username": f"worker-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(12),
        "role": "client", "permissions": ["jobs.work"]})
    assert response.status_code == 201, response.text
    response = admin.post(f"/api/users/{response.json()['id']}/api-keys", json={"name": "w1"})
    assert response.status_code == 201, response.text
    return response.json()["key"]


@pytest.fixture
def api_key(admin):
    return new_worker_key(admin)


def submit(client, model, **overrides):
    body = {"operation": "summarize", "prompts": ["one two three four five six seven eight nine"],
            "model": model, "requestData": {"maxWords": 3}, **overrides}
    response = client.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()["jobId"]


def settled(client, job_ids, statuses, timeout=30):
    """The jobs once each is in one of `statuses` (an AssertionError after `timeout`)."""
    def read():
        jobs = [client.get(f"/jobs/{job_id}").json() for job_id in job_ids]
        return jobs if all(job["status"] in statuses for job in jobs) else None

    jobs = wait_for(read, timeout=timeout)
    assert jobs, [client.get(f"/jobs/{job_id}").json() for job_id in job_ids]
    return jobs


def write_handler(directory, name, code):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(code))
    return f"{name}:handle"


def test_the_example_handler_processes_every_job(server, make_user, api_key, start_worker,
                                                 model):
    client = make_user()
    job_ids = [submit(client, model, prompts=[f"job {n} says hello to the worker", "a b c d"])
               for n in range(5)]
    worker = start_worker(server, api_key, EXAMPLE, "--concurrency", "2")

    jobs = settled(client, job_ids, {"PROCESSED"})
    for n, job in enumerate(jobs):
        assert job["responseData"] == {"summaries": [f"job {n} says", "a b c"],
                                       "model": model}
        assert job["processingMetrics"] == {"promptTokens": 11, "completionTokens": 6}
    assert worker.stop() == 0
    log = worker.log()
    assert api_key not in log
    assert "Traceback" not in log
    assert log.count(" completed") == 5, log


def test_permanent_fails_the_job_at_once(server, make_user, api_key, start_worker, model):
    client = make_user()
    job_id = submit(client, model, operation="translate")  # the example handles only summarize
    start_worker(server, api_key)

    [job] = settled(client, [job_id], {"ERROR_PROCESSING", "PROCESSED", "CANCELED"})
    assert job["status"] == "ERROR_PROCESSING"
    assert job["attempts"] == 1  # not retried, although maxAttempts allows more
    assert job["maxAttempts"] > 1
    assert job["errorData"] == {"type": "Permanent", "retryable": False,
                                "message": "unsupported operation: translate"}


def test_any_other_exception_fails_the_attempt_with_its_type(
        tmp_path, server, make_user, api_key, start_worker, model):
    handler = write_handler(tmp_path, "broken", """
        def handle(job):
            raise LookupError("no such document")
    """)
    client = make_user()
    job_id = submit(client, model, maxAttempts=1)
    worker = start_worker(server, api_key, handler, cwd=tmp_path)

    [job] = settled(client, [job_id], {"ERROR_PROCESSING", "PROCESSED", "CANCELED"})
    assert job["status"] == "ERROR_PROCESSING"
    assert job["errorData"] == {"type": "LookupError", "message": "no such document",
                                "retryable": True}
    assert "Traceback" in worker.log()  # the handler's, logged for its author


def test_retry_tries_the_job_again(tmp_path, server, make_user, api_key, start_worker, model):
    handler = write_handler(tmp_path, "flaky", """
        from jobsapi.worker import Retry

        def handle(job):
            if job["attempt"] == 1:
                raise Retry("rate limited", after=1)
            return {"attempt": job["attempt"]}
    """)
    client = make_user()
    job_id = submit(client, model, maxAttempts=3)
    start_worker(server, api_key, handler, cwd=tmp_path)

    [job] = settled(client, [job_id], {"PROCESSED", "ERROR_PROCESSING"}, timeout=60)
    assert job["status"] == "PROCESSED", job
    assert job["responseData"] == {"attempt": 2}


def test_a_rate_limited_retry_pauses_the_model_and_costs_no_attempt(
        tmp_path, server, admin, make_user, api_key, start_worker, model):
    handler = write_handler(tmp_path, "limited", """
        import pathlib
        from jobsapi.worker import Retry

        def handle(job):
            if not pathlib.Path("told-" + job["jobId"]).exists():
                pathlib.Path("told-" + job["jobId"]).touch()
                raise Retry("429 from the provider", after=1, rate_limited=True,
                            pause_model=True)
            return {"done": True}
    """)
    client = make_user()
    job_id = submit(client, model, maxAttempts=1)  # a counted failure would end it
    start_worker(server, api_key, handler, cwd=tmp_path)

    [job] = settled(client, [job_id], {"PROCESSED", "ERROR_PROCESSING"}, timeout=60)
    assert (job["status"], job["attempts"]) == ("PROCESSED", 1), job
    paused = [limit for limit in admin.get("/api/model-limits").json() if limit["model"] == model]
    assert paused and paused[0]["pausedUntil"] is not None


def test_sigterm_releases_a_running_job_and_exits_0(
        tmp_path, server, make_user, api_key, start_worker, model):
    handler = write_handler(tmp_path, "slow", """
        import pathlib
        import threading

        def handle(job):
            pathlib.Path("started-" + job["jobId"]).touch()
            threading.Event().wait()  # until the process ends
    """)
    client = make_user()
    job_id = submit(client, model)
    worker = start_worker(server, api_key, handler, cwd=tmp_path)
    assert wait_for(lambda: (tmp_path / f"started-{job_id}").exists(), timeout=30), worker.log()
    assert client.get(f"/jobs/{job_id}").json()["status"] == "PROCESSING"

    assert worker.stop() == 0
    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "PENDING"
    assert job["attempts"] == 0  # a release does not count
    assert f"job {job_id}: released" in worker.log()


def test_a_job_canceled_while_it_runs_ends_canceled_when_its_handler_returns(
        tmp_path, server, make_user, api_key, start_worker, model):
    handler = write_handler(tmp_path, "waits", """
        import pathlib
        import time

        def handle(job):
            pathlib.Path("started").touch()
            while not pathlib.Path("go").exists():  # the test's signal to finish
                time.sleep(0.05)
            return {"late": True}
    """)
    client = make_user()
    job_id = submit(client, model)
    worker = start_worker(server, api_key, handler, "--lease", "10", cwd=tmp_path)
    assert wait_for(lambda: (tmp_path / "started").exists(), timeout=30), worker.log()
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text

    # The next heartbeat, within a third of the lease, tells the worker.
    assert wait_for(lambda: "cancel requested" in worker.log(), timeout=30), worker.log()
    (tmp_path / "go").touch()
    [job] = settled(client, [job_id], {"CANCELED", "PROCESSED"})
    assert job["status"] == "CANCELED"
    assert f"job {job_id}: completed" in worker.log()


def test_a_refused_key_stops_the_worker_with_status_1(server, start_worker):
    worker = start_worker(server, "jak_not-a-key-at-all")
    assert wait_for(lambda: worker.process.poll() is not None, timeout=30), worker.log()
    assert worker.process.returncode == 1
    log = worker.log()
    assert "claim refused (HTTP 401" in log
    assert "jak_not-a-key-at-all" not in log


def test_the_worker_waits_out_a_server_outage(tmp_path, start_worker, model):
    live = LiveServer(tmp_path).start()
    try:
        admin = Api(live, "admin", ADMIN_PASSWORD)
        api_key = new_worker_key(admin)
        response = admin.post("/api/users", json={"username": "alice", "password": "alice-pw-1",
                                                  "role": "client"})
        assert response.status_code == 201, response.text
        live.stop()
        worker = start_worker(live, api_key)
        assert wait_for(lambda: "server unavailable" in worker.log(), timeout=30), worker.log()

        live.start()
        client = Api(live, "alice", "alice-pw-1")
        [job] = settled(client, [submit(client, model)], {"PROCESSED"}, timeout=60)
        assert job["responseData"]["summaries"] == ["one two three"]
        assert worker.stop() == 0
    finally:
        live.stop()
    log = worker.log()
    assert log.count("server unavailable") == 1, log  # one line per change of state
    assert log.count("server available again") == 1, log
    assert "Traceback" not in log


def test_the_readme_shows_the_example_handler_as_it_is():
    docs = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "worker_handler.py").read_text()
    code = example[example.index("from jobsapi.worker"):]
    assert f"```python\n{code}```\n" in docs


def test_the_worker_files_import_only_the_standard_library():
    for path in WORKER_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "workerclient", (path, name)


def copy_worker(directory):
    directory.mkdir()
    for path in WORKER_FILES:
        shutil.copy(path, directory)
    return directory


def test_importing_a_copy_of_the_worker_loads_no_server_package(tmp_path):
    copy = copy_worker(tmp_path / "copy")
    code = ("import json, sys, worker; "
            f"print(json.dumps(sorted(name for name in sys.modules "
            f"if name.split('.')[0] in {SERVER_PACKAGES!r})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True,
                            text=True, timeout=30, check=True)
    assert json.loads(result.stdout) == []


def test_a_copy_runs_on_the_standard_library_alone(tmp_path, server, make_user, api_key,
                                                   start_worker, model):
    copy = copy_worker(tmp_path / "copy")
    handler = write_handler(copy, "shout", """
        from worker import Result

        def handle(job):
            return Result({"text": job["prompts"][0].upper()}, {"characters": 9})
    """)
    # -S: no site-packages at all; -E -s: nor PYTHONPATH, nor the user's site directory.
    python = [sys.executable, "-S", "-E", "-s"]
    help_text = subprocess.run([*python, "worker.py", "--help"], cwd=copy, capture_output=True,
                               text=True, timeout=30, check=True).stdout
    assert "--handler" in help_text

    client = make_user()
    job_id = submit(client, model, prompts=["good news"])
    worker = start_worker(server, api_key, handler, command=[*python, "worker.py"], cwd=copy)
    [job] = settled(client, [job_id], {"PROCESSED", "ERROR_PROCESSING"})
    assert (job["status"], job["responseData"], job["processingMetrics"]) == (
        "PROCESSED", {"text": "GOOD NEWS"}, {"characters": 9})
    assert worker.stop() == 0


def test_python_m_jobsapi_worker_shows_its_options():
    result = subprocess.run([sys.executable, "-m", "jobsapi.worker", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30, check=True)
    for option in ("--url", "--api-key", "--handler", "--concurrency", "--models", "--lease",
                   "--worker-id"):
        assert option in result.stdout


def test_the_api_key_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("JOBSAPI_API_KEY", "jak_from_the_environment")
    monkeypatch.setattr(sys, "path", list(sys.path))  # the handler's directory is added
    args = parse_args(["--url", "http://127.0.0.1:9", "--handler", "json:dumps"])
    assert args.api_key == "jak_from_the_environment"
    assert args.handler is json.dumps


def test_a_bad_handler_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "jobsapi.worker", "--url", "http://127.0.0.1:9",
         "--api-key", "jak_x", "--handler", "examples.worker_handler:nothing"],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--handler" in result.stderr and "nothing" in result.stderr


JOB = {"jobId": "0" * 24, "operation": "summarize"}


@pytest.mark.parametrize(("returned", "body"), [
    ({"a": 1}, {"responseData": {"a": 1}}),
    (None, {}),
    (Result({"a": 1}, {"tokens": 2}),
     {"responseData": {"a": 1}, "processingMetrics": {"tokens": 2}}),
    (Result(processing_metrics={"tokens": 2}), {"processingMetrics": {"tokens": 2}}),
])
def test_a_handler_s_return_value_completes_the_job(returned, body):
    assert outcome(lambda job: returned, JOB) == ("complete", body)


def raising(error):
    def handler(job):
        raise error
    return handler


class PromptTooLong(Permanent):
    pass


@pytest.mark.parametrize(("error", "failure"), [
    (Retry("rate limited", after=2.5),
     {"error": {"type": "Retry", "message": "rate limited", "retryable": True},
      "retryAfterSeconds": 3}),
    (Retry("429", after=30, rate_limited=True, pause_model=True),
     {"error": {"type": "Retry", "message": "429", "retryable": True},
      "retryAfterSeconds": 30, "rateLimited": True, "pauseModel": True}),
    (Permanent("no", details={"field": "prompts"}),
     {"error": {"type": "Permanent", "message": "no", "retryable": False,
                "details": {"field": "prompts"}}}),
    (PromptTooLong("too long"),
     {"error": {"type": "PromptTooLong", "message": "too long", "retryable": False}}),
    (ValueError(), {"error": {"type": "ValueError", "message": "ValueError", "retryable": True}}),
])
def test_a_handler_s_exception_fails_the_attempt(error, failure):
    assert outcome(raising(error), JOB) == ("fail", failure)


def test_a_handler_s_exception_chained_from_its_cause_is_reported_as_the_cause():
    def handler(job):
        try:
            raise TimeoutError("model did not answer")
        except TimeoutError as error:
            raise Retry("try later") from error

    assert outcome(handler, JOB)[1]["error"]["type"] == "TimeoutError"


def test_a_return_value_that_is_no_object_fails_the_attempt():
    route, body = outcome(lambda job: ["not", "an", "object"], JOB)
    assert (route, body["error"]["type"], body["error"]["retryable"]) == ("fail", "TypeError", True)


def test_backoff_grows_with_jitter_up_to_its_cap_and_retry_after_wins():
    backoff = Backoff()
    delays = [backoff.delay() for _ in range(12)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert all(BACKOFF_CAP / 2 <= delay <= BACKOFF_CAP for delay in delays[6:])
    assert backoff.delay(retry_after=7) == 7


class FakeClient:
    """The HTTP client's stand-in, in-process: hands out `jobs`, answers heartbeats with
    `lease_answer(jobId)`, raises the errors `refusals` lists for a route (in turn, once
    each), and records every request."""

    def __init__(self, jobs, lease_answer=lambda job_id: {"ok": True}, refusals=None):
        self.jobs, self.lease_answer = list(jobs), lease_answer
        self.refusals = {route: list(errors) for route, errors in (refusals or {}).items()}
        self.requests = []
        self.lock = threading.Lock()

    def post(self, path, body, timeout=None):
        with self.lock:
            self.requests.append((path, body))
            route = path.rsplit("/", 1)[1]
            if self.refusals.get(route):
                raise self.refusals[route].pop(0)
            if route == "claim":
                claimed, self.jobs = self.jobs[:body["limit"]], self.jobs[body["limit"]:]
                return {"jobs": claimed}, None if claimed else 1
            if route == "heartbeat":
                return {"leases": [dict(self.lease_answer(lease["jobId"]), jobId=lease["jobId"])
                                   for lease in body["leases"]]}, None
            return {}, None

    def sent(self, route):
        with self.lock:
            return [(path, body) for path, body in self.requests if path.endswith("/" + route)]


def fake_job(number):
    return {"jobId": f"{number:024x}", "operation": "summarize", "prompts": ["p"],
            "lease": {"token": f"token-{number}"}}


class InProcess:
    """A Worker on a FakeClient, run in a thread; its leases last 0.3 s (heartbeats every
    0.1 s), and `stop()` returns its exit status."""

    def __init__(self, client, handler, concurrency=1):
        self.worker = Worker(client, handler, "test-worker", concurrency,
                                 lease_seconds=0.3, idle_wait=0)
        self.status = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.status = self.worker.run()

    def stop(self):
        self.worker.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.status


def blocking_handler():
    """A handler that waits for `go` to be set; `started` holds the jobs it got."""
    go, started = threading.Event(), []

    def handle(job):
        started.append(job["jobId"])
        assert go.wait(timeout=30)
        return {"done": job["jobId"]}

    return handle, go, started


def test_claims_ask_for_the_free_slots_only():
    client = FakeClient([fake_job(n) for n in range(5)])
    handle, go, started = blocking_handler()
    worker = InProcess(client, handle, concurrency=3)
    assert wait_for(lambda: len(started) == 3, timeout=30)
    go.set()
    assert wait_for(lambda: len(client.sent("complete")) == 5, timeout=30)
    assert worker.stop() == 0
    limits = [body["limit"] for _, body in client.sent("claim")]
    assert limits[0] == 3 and all(1 <= limit <= 3 for limit in limits)
    assert {body["workerId"] for _, body in client.sent("claim")} == {"test-worker"}
    assert sorted(body["responseData"]["done"] for _, body in client.sent("complete")) == [
        f"{n:024x}" for n in range(5)]


def test_stop_releases_the_unfinished_jobs_only():
    client = FakeClient([fake_job(1), fake_job(2)])
    finished = threading.Event()

    def handle(job):
        if job["jobId"] == fake_job(1)["jobId"]:
            return {"fast": True}
        finished.wait(timeout=30)

    worker = InProcess(client, handle, concurrency=2)
    assert wait_for(lambda: client.sent("complete"), timeout=30)
    assert worker.stop() == 0
    finished.set()
    assert [path for path, _ in client.sent("release")] == [f"/jobs/{fake_job(2)['jobId']}/release"]
    assert client.sent("release")[0][1] == {"leaseToken": "token-2"}
    assert len(client.sent("complete")) == 1


def test_a_lost_lease_s_outcome_is_not_reported():
    client = FakeClient([fake_job(1)], lease_answer=lambda job_id: {"ok": False})
    handle, go, started = blocking_handler()
    worker = InProcess(client, handle)
    assert wait_for(lambda: client.sent("heartbeat"), timeout=30)
    go.set()
    assert wait_for(lambda: not worker.worker.leases, timeout=30)
    assert worker.stop() == 0
    assert client.sent("complete") == client.sent("fail") == client.sent("release") == []


def test_a_cancel_request_still_reports_the_outcome():
    client = FakeClient([fake_job(1)],
                        lease_answer=lambda job_id: {"ok": True, "cancelRequested": True})
    handle, go, started = blocking_handler()
    worker = InProcess(client, handle)
    assert wait_for(lambda: client.sent("heartbeat"), timeout=30)
    go.set()
    assert wait_for(lambda: client.sent("complete"), timeout=30)
    assert worker.stop() == 0


def test_a_result_the_server_refuses_fails_the_job_instead():
    client = FakeClient([fake_job(1)], refusals={"complete": [Refused(400, "too deep")]})
    worker = InProcess(client, lambda job: {"deep": {}})
    assert wait_for(lambda: client.sent("fail"), timeout=30)
    assert worker.stop() == 0
    [(_, body)] = client.sent("fail")
    assert body == {"leaseToken": "token-1", "error": {
        "type": "ResultRefused", "retryable": False,
        "message": "the server refused the handler's result (HTTP 400: too deep)"}}


def test_an_outcome_is_sent_again_while_the_server_is_unavailable(monkeypatch):
    monkeypatch.setattr(Backoff, "delay", lambda self, retry_after=None: 0.01)
    client = FakeClient([fake_job(1)], refusals={"complete": [Unavailable("down")] * 2})
    worker = InProcess(client, lambda job: {"ok": 1})
    assert wait_for(lambda: len(client.sent("complete")) == 3, timeout=30)
    assert worker.stop() == 0


def test_a_stale_lease_at_completion_is_given_up():
    client = FakeClient([fake_job(1)], refusals={"complete": [Refused(409, "stale")]})
    worker = InProcess(client, lambda job: {"ok": 1})
    assert wait_for(lambda: client.sent("complete") and not worker.worker.leases, timeout=30)
    assert worker.stop() == 0
    assert len(client.sent("complete")) == 1 and client.sent("fail") == []
