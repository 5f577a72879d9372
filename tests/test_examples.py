"""The examples run as written: each in a subprocess, over HTTP, stopped with SIGTERM."""

import subprocess
import sys

import requests

from conftest import ADMIN_PASSWORD, ROOT, Api, LiveServer, wait_for


def run_example(directory, name):
    """examples/<name> in a subprocess, with a LiveServer's environment, port and log."""
    server = LiveServer(directory)
    server.log = open(server.log_path, "ab")
    server.process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=ROOT, env=server.env, stdout=server.log, stderr=subprocess.STDOUT,
    )

    def healthy():
        if server.process.poll() is not None:
            raise AssertionError(f"{name} exited early:\n{server.log_text()}")
        try:
            return requests.get(server.base_url + "/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    if not wait_for(healthy, timeout=30):
        server.stop()
        raise AssertionError(f"{name} did not become healthy:\n{server.log_text()}")
    return server


def test_embedded_serves_its_route_and_task_and_stops_on_sigterm(tmp_path):
    server = run_example(tmp_path, "embedded.py")
    try:
        assert requests.get(server.base_url + "/hello", timeout=10).json() == {
            "hello": "from the site"
        }
        admin = Api(server, "admin", ADMIN_PASSWORD)
        jobs = {job["id"]: job for job in admin.get("/api/jobs").json()}
        assert jobs["catalog-sync"]["name"] == "Catalog Sync"
        assert jobs["catalog-sync"]["schedule"] == "0 */6 * * *"

        response = admin.post("/api/jobs/catalog-sync/trigger")
        assert response.status_code == 200, response.text
        run_id = response.json()["runId"]

        def finished():
            logs = admin.get("/api/jobs/catalog-sync/logs").json()["logs"]
            return next((log for log in logs if log["id"] == run_id
                         and log["result"] != "running"), None)

        run = wait_for(finished, timeout=30)
        assert run and run["result"] == "success", run
        assert run["details"] == "Synced 3 items"
    finally:
        server.stop()
    assert server.process.returncode == 0
    log = server.log_text()
    assert log.rstrip().endswith("INFO jobsapi: stopped"), log
    assert "Traceback" not in log


def test_the_readme_shows_the_embedded_example_as_it_is():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "embedded.py").read_text()
    code = example[example.index("import flask\n"):]
    assert f"```python\n{code}```\n" in readme
