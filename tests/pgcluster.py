"""A throwaway PostgreSQL for the tests: JOBSAPI_TEST_POSTGRES_URL when given, else a
cluster of the system's PostgreSQL (initdb, pg_ctl) in a temporary directory on a Unix
socket, removed afterwards. Each test server gets a fresh database of its own."""

import atexit
import contextlib
import glob
import os
import pathlib
import pwd
import secrets
import shutil
import subprocess
import tempfile
import urllib.parse

import psycopg

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2]))
SECRET_KEY = "test-secret-key-shared-by-every-instance-0123456789"
# Unix socket only; no flushing (a throwaway cluster); a time zone far from UTC, so a time
# read or written in the session's zone instead of UTC would show.
SETTINGS = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c max_connections=300 -c TimeZone=Pacific/Chatham")


class Cluster:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self, own=False):
        """The given server (JOBSAPI_TEST_POSTGRES_URL), else, or when `own`, one started
        here from the system's binaries."""
        self.directory = None
        self.url = None if own else os.environ.get("JOBSAPI_TEST_POSTGRES_URL")
        if not self.url:
            self._start()

    def _bin(self, name):
        if not BINARIES:
            raise RuntimeError("No PostgreSQL server binaries (initdb, pg_ctl) and no "
                               "JOBSAPI_TEST_POSTGRES_URL: install Debian's postgresql package "
                               "(apt-get install postgresql)")
        return os.path.join(BINARIES[-1], name)

    def _run(self, *command):
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def _start(self):
        initdb = self._bin("initdb")
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="jobsapi-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        data, socket_dir = self.directory / "data", str(self.directory)
        self._run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._run(self._bin("pg_ctl"), "-D", str(data), "-l", str(self.directory / "log"),
                  "-w", "start", "-o", f"-k {socket_dir} {SETTINGS}")
        self.url = f"postgresql://postgres@/postgres?host={socket_dir}"
        atexit.register(self.stop)

    def restart(self):
        """Stop the server (fast: sessions are cut) and start it again."""
        data = str(self.directory / "data")
        self._run(self._bin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
        self._run(self._bin("pg_ctl"), "-D", data, "-l", str(self.directory / "log"), "-w",
                  "start", "-o", f"-k {self.directory} {SETTINGS}")

    def stop(self):
        if self.directory is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._bin("pg_ctl"), "-D", str(self.directory / "data"), "-m",
                      "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def url_for(self, name):
        """The URL of database `name` on this server."""
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def create_database(self):
        """A fresh, empty database; its URL."""
        name = f"jobsapi_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


_cluster = None


def cluster():
    """The session's cluster, started on first use."""
    global _cluster
    if _cluster is None:
        _cluster = Cluster()
    return _cluster
