"""jobsapi.server through app.py: where it listens, and what it does when it cannot."""

import os
import socket
import subprocess
import sys

import pytest

import pgcluster
from conftest import ADMIN_PASSWORD, ROOT, LiveServer, free_port


def test_a_busy_port_ends_it_with_one_line_and_nothing_started(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = LiveServer(tmp_path).env | {"JOBSAPI_PORT": str(port)}
        result = subprocess.run(
            [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr == f"cannot listen on 127.0.0.1:{port}: address already in use\n"
    # Nothing was started: no "serving on", no scheduler to stop, no "stopped".
    assert result.stdout == ""


def test_it_says_where_it_listens_once_it_does(tmp_path):
    server = LiveServer(tmp_path, JOBSAPI_ADMIN_PASSWORD=ADMIN_PASSWORD).start()
    try:
        log = server.log_text()
    finally:
        server.stop()
    assert f"INFO jobsapi: serving on http://127.0.0.1:{server.port}\n" in log
    assert log.count("serving on") == 1
    assert server.process.returncode == 0
    assert server.log_text().rstrip().endswith("INFO jobsapi: stopped")


def start_with(tmp_path, **settings):
    """`python app.py` with these settings, run in an empty directory; its result."""
    env = {**os.environ, "JOBSAPI_PORT": str(free_port()), **settings}
    return subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("url, reason", [
    ("postgresql://jobs:s3cret@/jobs?host=/nonexistent", "No such file or directory"),
    ("postgres://jobs:s3cret@127.0.0.1:1/jobs", "Connection refused"),
    ("postgresql://jobs:s3cret@[::1/jobs", "not a PostgreSQL URL libpq can read"),
    ("postgresql://jobs@/jobs?host=/nonexistent&password=s3cret", "No such file or directory"),
])
def test_a_postgresql_server_out_of_reach_is_one_line_without_its_password(tmp_path, url,
                                                                           reason):
    result = start_with(tmp_path, JOBSAPI_DATABASE=url, JOBSAPI_SECRET_KEY="k" * 40)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("JOBSAPI_DATABASE: ") and reason in line, line
    assert "s3cret" not in result.stderr + result.stdout and "***" in line
    assert list(tmp_path.iterdir()) == []  # not taken for a file name


def test_postgresql_without_a_shared_secret_key_is_one_line(tmp_path):
    url = pgcluster.cluster().create_database()
    result = start_with(tmp_path, JOBSAPI_DATABASE=url, JOBSAPI_SECRET_KEY="")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "JOBSAPI_SECRET_KEY: required on PostgreSQL (every instance signs tokens with it, so "
        "give them all the same one)"]
