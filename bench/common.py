"""What every benchmark shares: starting servers, logging in, reading a process's RSS and CPU."""

import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
ADMIN_PASSWORD = "admin-password-for-bench"
CLIENT_PASSWORD = "client-password-for-bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status(pid):
    """VmRSS and VmHWM of a process, in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields


def reset_peak_rss(pid):
    """Start VmHWM afresh (Linux clear_refs 5); False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def proc_cpu(pid):
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Server:
    """A server in a subprocess on a free port of 127.0.0.1, ready once `health` answers 200."""

    def __init__(self, argv, directory, env=None, health="/health"):
        self.argv = argv
        self.directory = pathlib.Path(directory)
        self.port = free_port()
        self.health = health
        self.env = {**os.environ, **(env or {})}
        self.log_path = self.directory / f"server-{self.port}.log"
        self.process = None

    @property
    def pid(self):
        return self.process.pid

    def start(self, timeout=60):
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(arg).replace("{port}", str(self.port)) for arg in self.argv],
            cwd=ROOT, env={name: value.replace("{port}", str(self.port))
                           for name, value in self.env.items()},
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()}")
            try:
                if request(self.port, "GET", self.health, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log_text()}")

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log_text(self):
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def service(directory, database, **env):
    """`python app.py` (waitress) as `make run` starts it, on `database`: a SQLite file, or
    a postgresql:// URL (then `env` gives JOBSAPI_SECRET_KEY)."""
    server = Server(
        [sys.executable, ROOT / "app.py"],
        directory,
        env={
            "JOBSAPI_HOST": "127.0.0.1",
            "JOBSAPI_PORT": "{port}",
            "JOBSAPI_DATABASE": str(database),
            "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **env,
        },
    )
    # A SQLite file's path, or a PostgreSQL URL as it is.
    server.database = database if "://" in str(database) else pathlib.Path(database)
    return server


def request(port, method, path, body=None, token=None, timeout=60):
    """One request on a fresh connection (set-up only, not measured): (status, parsed body)."""
    headers = {}
    if body is not None:
        body = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, (json.loads(data) if data else None)


def login(port, username, password):
    status, body = request(port, "POST", "/api/auth/login",
                           {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login as {username} failed: {status} {body}")
    return body["accessToken"], body["user"]["id"]


def create_client(port, username):
    """Create a client user through the API (as admin); return its token and id."""
    admin_token, _ = login(port, "admin", ADMIN_PASSWORD)
    status, body = request(port, "POST", "/api/users",
                           {"username": username, "password": CLIENT_PASSWORD, "role": "client"},
                           token=admin_token)
    if status != 201:
        raise RuntimeError(f"creating {username} failed: {status} {body}")
    return login(port, username, CLIENT_PASSWORD)


def sqlite_connect(path):
    """A sqlite3 connection with the service's pragmas, in autocommit mode."""
    import sqlite3

    from jobsapi.database import PRAGMAS

    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    for name, value in PRAGMAS.items():
        connection.execute(f"PRAGMA {name} = {value}")
    return connection
