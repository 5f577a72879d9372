"""Fixtures: an app on its own database, and the real server (waitress) over HTTP.

The database is a SQLite file, or with JOBSAPI_TEST_BACKEND=postgresql a fresh database
on a throwaway PostgreSQL (tests/pgcluster.py): `make test` runs the suites marked
`both_backends` that way too."""

import contextlib
import http
import os
import pathlib
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse

import peewee as pw
import psycopg
import pytest
import requests

from jobsapi import create_app

import pgcluster

CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root), no GPU, no traffic of the browser's own, no name resolved
# but loopback's: a page that needs the internet stays blank, as it would offline.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "admin-password-for-tests"
BACKEND = os.environ.get("JOBSAPI_TEST_BACKEND", "sqlite")
POSTGRESQL = BACKEND == "postgresql"


# What a unique or CHECK constraint raises, on either database.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


_databases = {}  # directory: the PostgreSQL database made for it


def pytest_sessionstart(session):
    """On PostgreSQL, start the throwaway server first: without one, stop at once with
    one line saying what to install."""
    if POSTGRESQL:
        try:
            pgcluster.cluster()
        except RuntimeError as exc:
            pytest.exit(str(exc), returncode=1)


def database_settings(directory):
    """JOBSAPI_* settings for the database of `directory`: the file jobs.db in it, or on
    PostgreSQL a database made for it the first time (with the key every instance must
    share). Servers started on one directory, one after another, share the database."""
    if POSTGRESQL:
        key = str(pathlib.Path(directory).resolve())
        if key not in _databases:
            _databases[key] = pgcluster.cluster().create_database()
        return {"JOBSAPI_DATABASE": _databases[key], "JOBSAPI_SECRET_KEY": pgcluster.SECRET_KEY}
    return {"JOBSAPI_DATABASE": str(pathlib.Path(directory) / "jobs.db")}


def query(database, statement, params=()):
    """Run one SQL statement on a server's database (a file path or a postgresql:// URL;
    `?` placeholders on both) and return its rows, committed."""
    return query_many(database, statement, [params])


def dump(database):
    """Every row of every table of the service, by table: what a request may not change."""
    from jobsapi.database import MODELS
    return {model._meta.table_name: query(database, f"SELECT * FROM {model._meta.table_name}"
                                                    " ORDER BY 1, 2")
            for model in MODELS}


def query_many(database, statement, rows):
    """Run one SQL statement once per row of parameters (one transaction); the last
    run's rows. Times written without a zone are UTC, as the service writes them."""
    if str(database).startswith("postgresql://"):
        with psycopg.connect(str(database), options="-c TimeZone=UTC") as connection:
            with connection.cursor() as cursor:
                for params in rows:
                    cursor.execute(statement.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        cursor = None
        for params in rows:
            cursor = connection.execute(statement, params)
        return cursor.fetchall()


@pytest.fixture
def app(tmp_path):
    """A fresh app on its own database (admin created with ADMIN_PASSWORD)."""
    return create_app({**database_settings(tmp_path), "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD})


@pytest.fixture
def engine_db(tmp_path):
    """A bare peewee database with schema.sql applied, for the schedules engine alone."""
    database = pw.SqliteDatabase(
        str(tmp_path / "s.db"),
        pragmas={"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1},
    )
    database.connect()
    database.connection().executescript((ROOT / "schema.sql").read_text())
    database.close()
    with database.connection_context():
        yield database


@pytest.fixture
def client(app):
    return app.test_client()


def wait_for(predicate, timeout):
    """Poll `predicate` until it is truthy or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`python app.py` in a subprocess: waitress on a free port, a real database (a SQLite
    file, or a PostgreSQL database: see database_settings). Pass another server's
    `database` as JOBSAPI_DATABASE to share it."""

    def __init__(self, directory, **env):
        self.directory = pathlib.Path(directory)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.directory / "server.log"
        settings = {} if "JOBSAPI_DATABASE" in env else database_settings(self.directory)
        if POSTGRESQL:
            settings["JOBSAPI_SECRET_KEY"] = pgcluster.SECRET_KEY
        self.env = {
            **os.environ,
            "JOBSAPI_HOST": "127.0.0.1",
            "JOBSAPI_PORT": str(self.port),
            "JOBSAPI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **settings,
            **{key: str(value) for key, value in env.items()},
        }
        database = self.env["JOBSAPI_DATABASE"]
        self.database = database if database.startswith("postgresql://") else pathlib.Path(database)

    def sql(self, statement, params=()):
        """Rows of one SQL statement run on this server's database (see query)."""
        return query(self.database, statement, params)
        self.process = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()}")
            try:
                if requests.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log_text()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def log_text(self):
        """The server's log so far: while it runs, up to a request made now, whose access
        line shows that the lines logged before it are written (they leave in batches)."""
        if self.process and self.process.poll() is None:
            marker = secrets.token_hex(8)
            requests.get(f"{self.base_url}/health?logged={marker}", timeout=30)
            wait_for(lambda: marker in self.log_path.read_text(errors="replace"), timeout=30)
        return self.log_path.read_text(errors="replace")


class Api:
    """A requests session against the live server, logged in as one user."""

    def __init__(self, server, username=None, password=None):
        self.server = server
        self.session = requests.Session()
        self.user = None
        if username:
            self.login(username, password)

    def login(self, username, password):
        response = self.post("/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        self.tokens = body
        self.user = body["user"]
        self.session.headers["Authorization"] = f"Bearer {body['accessToken']}"
        return body

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.server.base_url + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One real server for the session; tests isolate themselves with fresh users."""
    live = LiveServer(tmp_path_factory.mktemp("server")).start()
    yield live
    live.stop()


@pytest.fixture
def admin(server):
    return Api(server, "admin", ADMIN_PASSWORD)


@pytest.fixture
def anonymous(server):
    return Api(server)


@pytest.fixture
def make_user(server, admin):
    """Create a fresh user through the API and return an Api logged in as them."""

    def make(role="client", permissions=(), password=None):
        username = f"{role}-{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(12)
        response = admin.post(
            "/api/users",
            json={"username": username, "password": password, "role": role,
                  "permissions": list(permissions)},
        )
        assert response.status_code == 201, response.text
        api = Api(server, username, password)
        api.password = password
        return api

    return make


def assert_error(response, code, message=None):
    """The one error shape: code, status phrase, message (and errors only when given)."""
    assert response.status_code == code, response.text
    body = response.json()
    assert body["code"] == code
    assert body["status"] == http.HTTPStatus(code).phrase
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}
    if message is not None:
        assert message in body["message"], body["message"]
    return body


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright; never a browser download."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"No browser at {CHROMIUM}: install Debian's chromium package "
                    "(apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    """A fresh page whose requests beyond loopback are refused, and listed in
    page.outside."""
    context = browser.new_context()
    page = context.new_page()
    page.outside = []

    def loopback_only(route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in LOOPBACK:
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    yield page
    context.close()
