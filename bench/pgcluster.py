"""A throwaway PostgreSQL cluster for the benchmarks, from the system's initdb and pg_ctl.

The cluster lives in a temporary directory and listens only on a Unix socket there (as
the tests' does, and as the `postgres` user when run as root, since initdb refuses root).
Unlike the tests' it keeps a fresh cluster's durability: fsync on, full_page_writes on.
Only synchronous_commit is off, which is what the SQLite side's WAL with synchronous=NORMAL
amounts to: a commit does not wait for its flush, a crash of the machine may lose the last
commits, never consistency.
"""

import contextlib
import glob
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2]))
SETTINGS = {"listen_addresses": "''", "synchronous_commit": "off"}
DURABILITY = "fsync on (a fresh cluster's default), synchronous_commit off (as SQLite's NORMAL)"


def available():
    """Whether the system has PostgreSQL's server binaries."""
    return bool(BINARIES)


class Cluster:
    """A PostgreSQL server on a Unix socket in a temporary directory, removed on stop."""

    def __init__(self):
        self.directory = None
        self.url = None

    def _bin(self, name):
        if not BINARIES:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): "
                               "apt-get install postgresql")
        return os.path.join(BINARIES[-1], name)

    def _run(self, *command):
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self):
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="jobsapi-bench-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        data = self.directory / "data"
        # --no-sync only skips flushing initdb's own files: the running server fsyncs.
        self._run(self._bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                  "--no-sync")
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        self._run(self._bin("pg_ctl"), "-D", str(data), "-l", str(self.directory / "log"),
                  "-w", "start", "-o", f"-k {self.directory} {options}")
        self.url = f"postgresql://postgres@/postgres?host={self.directory}"
        return self

    def stop(self):
        if self.directory is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._bin("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast",
                      "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def url_for(self, name):
        """The URL of database `name` on this server."""
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def create_database(self, name):
        """A fresh, empty database `name`; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def settings(self):
        """The server's version and the settings that decide how fast a commit is."""
        import psycopg

        with psycopg.connect(self.url) as connection:
            rows = connection.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', "
                "'fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', "
                "'shared_buffers', 'max_connections')").fetchall()
        return dict(rows)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
