"""Backups of the SQLite database file, and the removal of files nothing owns any more."""

import contextlib
import datetime as dt
import os
import re
import sqlite3
import time

# The only names these functions create, and so the only ones they ever remove.
BACKUP_NAME = re.compile(r"^jobsapi-\d{8}T\d{6}Z\.db$")
PARTIAL_NAME = re.compile(r"^\.jobsapi-\d{8}T\d{6}Z\.db\.partial$")
# A partial file younger than this may belong to a backup still being written.
PARTIAL_MAX_AGE = 3600.0  # seconds


class NotBackedUp(RuntimeError):
    """The database cannot be backed up (not a SQLite file)."""


def default_directory(database_file):
    """Where backups go unless configured: `backups/` beside the database file."""
    return os.path.join(os.path.dirname(os.path.abspath(database_file)), "backups")


def back_up(database_file, directory, now=None):
    """Write an online, consistent copy of the database into `directory`; return its path.

    The copy is made with SQLite's backup API under a temporary name and renamed when
    complete, so a backup file that exists under its final name is always whole.
    """
    if not database_file or database_file == ":memory:" or not os.path.isfile(database_file):
        raise NotBackedUp(f"not a SQLite database file: {database_file!r}")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".jobsapi-{stamp}.db.partial")
    path = os.path.join(directory, f"jobsapi-{stamp}.db")
    try:
        with contextlib.closing(sqlite3.connect(database_file, timeout=30)) as source, \
                contextlib.closing(sqlite3.connect(partial)) as target:
            source.backup(target)
            # One self-contained file: no -wal beside it to copy along when restoring.
            target.execute("PRAGMA journal_mode = DELETE")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return path


def backups(directory):
    """The names of the backups in `directory`, oldest first (their names sort by time)."""
    try:
        return sorted(name for name in os.listdir(directory) if BACKUP_NAME.match(name))
    except FileNotFoundError:
        return []


def prune(directory, keep):
    """Remove all but the newest `keep` backups (at least one is kept); return their names."""
    names = backups(directory)
    removed = names[:max(len(names) - max(keep, 1), 0)]
    return [name for name in removed if _remove(os.path.join(directory, name))]


def remove_partials(directory, now=None, max_age=PARTIAL_MAX_AGE):
    """Remove partial backups older than `max_age` seconds (left by an interrupted backup:
    a running one's file is younger); return their names."""
    now = time.time() if now is None else now
    try:
        names = sorted(name for name in os.listdir(directory) if PARTIAL_NAME.match(name))
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            old = now - os.stat(path).st_mtime > max_age
        except OSError:
            continue
        if old and _remove(path):
            removed.append(name)
    return removed


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def listed(names, limit=10):
    """`names` for a run's details: the first `limit`, then how many more."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
