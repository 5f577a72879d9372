"""Wake-ups across processes: an idle loop sleeps until its next slot, and a run started
or a job changed by another scheduler on the same file wakes it at once."""

import os
import socket
import subprocess
import sys
import threading
import time

from schedules import Registry, Scheduler
from schedules.doorbell import Doorbell, LocalBell, bell_for, remove_stale_sockets
from schedules.models import JobRun

from conftest import wait_for


def _registry(schedule="0 0 1 1 *", task=None):
    registry = Registry()
    registry.task("chore", name="Chore", schedule=schedule)(task or (lambda context: "done"))
    return registry


def test_an_idle_loop_makes_no_pass_until_something_needs_it(engine_db):
    scheduler = Scheduler(_registry()).configure(engine_db, lease=1)  # polls 0.5 s if watching
    scheduler.start()
    try:
        assert wait_for(lambda: scheduler.loop_beat is not None, timeout=5)
        time.sleep(0.5)  # the first pass has looked around: nothing is running anywhere
        beat = scheduler.loop_beat
        time.sleep(2)
        assert scheduler.loop_beat == beat
        assert scheduler.stalled_for == 0
        scheduler.update("chore", schedule="* * * * * *")  # a change wakes it
        assert wait_for(lambda: JobRun.select().where(JobRun.result == "success").count(),
                        timeout=5)
    finally:
        scheduler.stop(grace=5)


def test_a_change_made_by_another_process_wakes_the_loop(engine_db):
    loop = Scheduler(_registry()).configure(engine_db, lease=1)
    admin = Scheduler(_registry()).configure(engine_db, lease=1)  # an API process, no loop
    loop.start()
    try:
        assert wait_for(lambda: loop.loop_beat is not None, timeout=5)
        time.sleep(0.5)
        admin.update("chore", schedule="* * * * * *")
        assert wait_for(lambda: JobRun.select().where(
            (JobRun.result == "success") & (JobRun.owner == loop.owner)).count(), timeout=5)
    finally:
        loop.stop(grace=5)


def test_a_run_started_by_a_process_that_then_dies_is_closed_within_the_lease(engine_db):
    release = threading.Event()
    loop = Scheduler(_registry()).configure(engine_db, lease=1)
    # Another process's scheduler: it triggers a run and never renews its lease, as if killed.
    dead = Scheduler(_registry(task=lambda context: release.wait(10))).configure(engine_db)
    loop.start()
    try:
        assert wait_for(lambda: loop.loop_beat is not None, timeout=5)
        time.sleep(0.5)  # idle: sleeping until January
        run = dead.trigger("chore", "user:1")
        assert wait_for(lambda: JobRun.get_by_id(run.id).result == "interrupted", timeout=10)
        assert "no heartbeat" in JobRun.get_by_id(run.id).details
    finally:
        release.set()
        loop.stop(grace=5)
        dead.stop(grace=5)


def test_a_bell_rings_the_other_sockets_and_removes_those_of_dead_processes(tmp_path):
    directory = str(tmp_path / "bells")  # created by the first to listen
    mine, other = Doorbell(directory), Doorbell(directory)
    mine.listen()
    other.listen()
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # a process killed while bound
    gone.bind(os.path.join(directory, "99999-deadbeef.sock"))
    gone.close()
    try:
        mine.ring()
        begun = time.monotonic()
        other.wait(5)  # the byte is there: no wait
        assert time.monotonic() - begun < 4
        assert sorted(os.listdir(directory)) == sorted(
            os.path.basename(bell.path) for bell in (mine, other))
        begun = time.monotonic()
        other.wait(0.3)  # the ring was read: nothing wakes it now
        assert time.monotonic() - begun >= 0.25
        mine.wake()  # wakes only its own loop
        begun = time.monotonic()
        mine.wait(5)
        assert time.monotonic() - begun < 4
        mine.close()
        assert os.listdir(directory) == [os.path.basename(other.path)]
        gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # another one killed
        gone.bind(os.path.join(directory, "99998-deadbeef.sock"))
        gone.close()
    finally:
        mine.close()
        other.close()
    assert not os.path.exists(directory)  # the last one out removes the directory


def test_a_database_without_a_file_gets_a_local_bell():
    assert isinstance(bell_for(":memory:"), LocalBell)
    assert isinstance(bell_for(None), LocalBell)
    assert not bell_for(":memory:").shared


def test_remove_stale_sockets_removes_only_dead_processes_own_sockets(tmp_path):
    database_file = str(tmp_path / "s.db")
    bell = bell_for(database_file)
    bell.listen()  # this process's socket: alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    others = {f"{pid}-deadbeef.sock": "socket", f"{pid}-x.sock": "socket",
              f"{pid}-cafebabe.sock.txt": "file", f"{pid}-0badf00d.sock": "file"}
    try:
        for name, kind in {f"{pid}-0123abcd.sock": "socket", **others}.items():
            path = os.path.join(bell.directory, name)
            if kind == "socket":
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.bind(path)
            else:
                open(path, "w").close()
        removed = remove_stale_sockets(database_file)
        assert removed == [f"{pid}-0123abcd.sock", f"{pid}-deadbeef.sock"]
        left = set(os.listdir(bell.directory))
        assert left == {os.path.basename(bell.path)} | set(others) - {f"{pid}-deadbeef.sock"}
        assert remove_stale_sockets(database_file) == []
        assert remove_stale_sockets(str(tmp_path / "other.db")) == []
    finally:
        for name in others:
            try:
                os.unlink(os.path.join(bell.directory, name))
            except FileNotFoundError:
                pass
        bell.close()
