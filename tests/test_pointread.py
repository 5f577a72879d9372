"""Point reads (Model.find_one) read what peewee reads, see what is committed, and give
way to the regular read whenever they cannot answer."""

import datetime as dt
import gc
import os
import sqlite3
import threading

import peewee as pw
import pytest

from jobsapi import models, pointread
from jobsapi.database import db
from jobsapi.models import Job, User


def _open_files(path):
    """How many of this process's file descriptors point at `path`."""
    fds = "/proc/self/fd"
    return sum(1 for fd in os.listdir(fds) if _target(os.path.join(fds, fd)) == str(path))


def _target(link):
    try:
        return os.readlink(link)
    except OSError:
        return None


def test_the_locked_path_is_available_here():
    # The rest of this module would pass on the fallback alone; this keeps it honest.
    assert pointread.functions() is not None


def test_find_one_reads_what_peewee_reads(awkward_rows):
    with db.connection_context():
        for model, key in ((User, "ü-user"), (Job, "a" * 24), (Job, "b" * 24)):
            field = model.username if model is User else model.id
            expected = model.get(field == key).__data__
            column = "username" if model is User else "id"
            assert model.find_one(f"{column} = ?", key).__data__ == expected
        assert Job.find_one("id = ?", "a" * 24).request_data == awkward_rows
        assert Job.find_one("id = ?", "no such job") is None


def test_find_one_is_read_by_the_locked_path(app, awkward_rows):
    path = app.config["JOBSAPI_DATABASE"]
    sql = "SELECT json_array(username, role), disabled FROM users WHERE username = ?"
    assert pointread.rows(path, sql, ["ü-user"]) == [['["ü-user","client"]', 1]]
    floats = "SELECT temperature, id, zeroblob(2) FROM jobs WHERE id = ?"
    assert pointread.rows(path, floats, ["a" * 24]) == [
        [0.30000000000000004, "a" * 24, b"\0\0"]
    ]


def test_a_commit_elsewhere_is_seen_by_the_next_read(app, awkward_rows):
    with db.connection_context():
        assert Job.find_one("id = ?", "b" * 24).status == "PENDING"
    other = sqlite3.connect(app.config["JOBSAPI_DATABASE"])
    with other:
        other.execute("UPDATE jobs SET status = 'CANCELED' WHERE id = ?", ["b" * 24])
    other.close()
    with db.connection_context():
        assert Job.find_one("id = ?", "b" * 24).status == "CANCELED"


def test_inside_a_transaction_it_reads_the_transaction(app, awkward_rows):
    with db.connection_context(), db.atomic() as transaction:
        Job.update(status="CANCELED").where(Job.id == "b" * 24).execute()
        assert Job.find_one("id = ?", "b" * 24).status == "CANCELED"
        transaction.rollback()
    with db.connection_context():
        assert Job.find_one("id = ?", "b" * 24).status == "PENDING"


def test_a_busy_database_is_left_to_the_regular_read(tmp_path):
    path = str(tmp_path / "journal.db")  # rollback journal: a writer locks readers out
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (v)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.execute("BEGIN EXCLUSIVE")
    assert pointread.rows(path, "SELECT v FROM t", []) is None  # at once: no busy wait
    writer.execute("COMMIT")
    assert pointread.rows(path, "SELECT v FROM t", []) == [[1]]
    writer.close()


@pytest.mark.parametrize("params", [[1.5], [None], [b"x"], [2**63], ["\ud800"], [[1]]])
def test_what_it_does_not_bind_is_left_to_the_regular_read(tmp_path, params):
    path = str(tmp_path / "p.db")
    sqlite3.connect(path).close()
    assert pointread.rows(path, "SELECT ?", params) is None


def test_most_stops_after_that_many_rows(tmp_path):
    path = str(tmp_path / "most.db")
    with sqlite3.connect(path) as connection:
        connection.executescript("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3);")
    assert pointread.rows(path, "SELECT v FROM t ORDER BY v", [], most=1) == [[1]]
    assert pointread.rows(path, "SELECT v FROM t ORDER BY v", [], most=5) == [[1], [2], [3]]
    assert pointread.rows(path, "SELECT v FROM t WHERE v > 9", [], most=1) == []
    assert pointread.rows(path, "SELECT v FROM t ORDER BY v", []) == [[1], [2], [3]]


def test_an_error_is_raised_by_the_regular_read(app):
    path = app.config["JOBSAPI_DATABASE"]
    assert pointread.rows(path, "SELECT nothing FROM nowhere", []) is None
    assert pointread.rows(":memory:", "SELECT 1", []) is None
    with db.connection_context(), pytest.raises(pw.OperationalError, match="no such column"):
        Job.find_one("absent = ?", 1)


def test_a_thread_keeps_one_reader_and_closes_it_when_done(tmp_path):
    first, second = str(tmp_path / "1.db"), str(tmp_path / "2.db")
    for path in (first, second):
        sqlite3.connect(path).execute("CREATE TABLE t (v)").connection.close()

    def work():
        assert pointread.rows(first, "SELECT count(*) FROM t", []) == [[0]]
        assert _open_files(first) == 1
        assert pointread.rows(second, "SELECT count(*) FROM t", []) == [[0]]
        assert (_open_files(first), _open_files(second)) == (0, 1)
        seen.append(True)

    seen = []
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    gc.collect()
    assert seen == [True]
    assert _open_files(second) == 0


def test_times_come_back_as_datetimes(awkward_rows):
    with db.connection_context():
        job = Job.find_one("id = ?", "a" * 24)
    assert job.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, 678000)
    assert job.deleted_at == dt.datetime(2026, 5, 6)


def test_forget_reopens_a_file_replaced_under_the_same_name(tmp_path):
    path, other = str(tmp_path / "r.db"), str(tmp_path / "other.db")
    for name, value in ((path, 1), (other, 2)):
        connection = sqlite3.connect(name)
        with connection:
            connection.execute("CREATE TABLE t (v)")
            connection.execute("INSERT INTO t VALUES (?)", [value])
        connection.close()
    assert pointread.rows(path, "SELECT v FROM t", []) == [[1]]
    os.replace(other, path)
    assert pointread.rows(path, "SELECT v FROM t", []) == [[1]]  # still the file it opened
    pointread.forget()  # what binding the app to its database again does
    assert pointread.rows(path, "SELECT v FROM t", []) == [[2]]


def test_with_another_sqlite_library_every_read_goes_the_regular_way(awkward_rows, monkeypatch):
    def refuse(*args):
        raise AssertionError("a point read beside another SQLite library")

    monkeypatch.setattr(models, "POINT_READS", False)
    monkeypatch.setattr(pointread, "rows", refuse)
    with db.connection_context():
        assert Job.find_one("id = ?", "b" * 24).error_data == {"message": "x"}


def test_peewee_connects_through_the_sqlite3_module_here():
    assert models.POINT_READS is True
