"""jobsapi.server through app.py: where it listens, and what it does when it cannot."""

import os
import socket
import subprocess
import sys

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


def test_a_postgresql_url_is_refused_with_one_line(tmp_path):
    """Not a file name: the server says what it takes instead of making a file so named."""
    env = {**os.environ, "JOBSAPI_DATABASE": "postgresql://user@localhost/jobs",
           "JOBSAPI_PORT": str(free_port())}
    result = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "JOBSAPI_DATABASE: this version runs on SQLite only; give the path of a database file"]
    assert list(tmp_path.iterdir()) == []
