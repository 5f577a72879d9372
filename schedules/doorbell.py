"""Wake-ups across the processes scheduling on one database file, so none has to poll.

Each scheduler binds a Unix datagram socket in a directory named after the database
file; a change another scheduler must see at once (a run started, a job edited) sends
a byte to every socket there. Where that cannot work (no file, no Unix sockets, a
directory owned by someone else) the bell is local only and the scheduler polls.
"""

import hashlib
import logging
import os
import re
import socket
import stat
import tempfile
import threading
import uuid

import peewee as pw

log = logging.getLogger("schedules")


class LocalBell:
    """Wakes this process's loop only; `shared` False tells the loop to poll for others."""

    shared = False

    def __init__(self):
        self._event = threading.Event()
        self.listeners = []  # called (in the reader's thread) whenever another process rings

    def listen(self):
        self._event.clear()

    def wait(self, timeout):
        """Sleep until woken or `timeout` seconds have passed."""
        self._event.wait(timeout)
        self._event.clear()

    def wake(self):
        self._event.set()

    def _heard_ring(self):
        """Another process rang: wake the loop, then tell the listeners."""
        self._event.set()
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a listener must not stop the wake-ups
                log.exception("a wake-up listener failed")

    def ring(self):
        """Wake the schedulers of other processes: a local bell reaches none."""

    def close(self):
        pass


class Doorbell(LocalBell):
    """The directory all of a database's schedulers share. `listen()` adds a socket of
    this process's own, read by a thread that wakes the loop; the loop itself waits on an
    Event, whose timeout is precise (a poll's is rounded to the millisecond and given a
    slack of a thousandth). Ringing needs no socket: an API-only process rings too."""

    shared = True

    def __init__(self, directory):
        super().__init__()
        self.directory = directory
        self.path = None
        self._socket = self._reader = None

    def listen(self):
        """Bind this process's socket and start reading it (before the loop starts)."""
        super().listen()
        path = os.path.join(self.directory, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            _own_directory(self.directory)  # again: the last one to leave removes it
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        self._socket, self.path = sock, path
        self._reader = threading.Thread(target=self._read, args=(sock,), daemon=True,
                                        name="scheduler-doorbell")
        self._reader.start()

    def _read(self, sock):
        while sock is self._socket:
            try:
                sock.recv(64)
            except OSError:
                return
            self._heard_ring()

    def ring(self):
        """Wake every other scheduler on the database."""
        try:
            paths = [os.path.join(self.directory, name) for name in os.listdir(self.directory)
                     if name.endswith(".sock")]
        except OSError:
            return
        paths = [path for path in paths if path != self.path]
        if paths:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                for path in paths:
                    _send(sock, path)

    def close(self):
        """Leave the directory and stop reading."""
        if self._socket is None:
            return
        sock, path, self._socket, self.path = self._socket, self.path, None, None
        _send(sock, path)  # unblocks the reader, which then sees it is done
        self._reader.join(timeout=5)
        _unlink(path)
        sock.close()
        self.ring()  # which also removes the sockets of processes that were killed
        try:
            os.rmdir(self.directory)  # only when no other scheduler is in it
        except OSError:
            pass


def _send(sock, path):
    try:
        sock.sendto(b"!", socket.MSG_DONTWAIT, path)
    except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
        _unlink(path)
    except OSError:  # a full queue: that loop is about to wake anyway
        pass


def bell_for(database):
    """The bell of the schedulers on a peewee database: on PostgreSQL, LISTEN/NOTIFY;
    on a SQLite file (or its path), a Doorbell shared by every scheduler on it; else a
    LocalBell."""
    if isinstance(database, pw.PostgresqlDatabase):
        from .notify import NotifyBell
        return NotifyBell(database)
    database_file = getattr(database, "database", database)
    if not database_file or database_file == ":memory:" or not hasattr(socket, "AF_UNIX"):
        return LocalBell()
    directory = _directory_for(database_file)
    try:
        _own_directory(directory)
    except OSError as exc:
        log.warning("scheduler wake-ups are local only (polling for other processes): %s", exc)
        return LocalBell()
    return Doorbell(directory)


def remove_stale_sockets(database_file):
    """Remove the sockets left in `database_file`'s directory by processes that died
    without leaving it (killed); return the names removed. Only this module's own sockets
    (`<pid>-<hex>.sock`) in a directory of this user are considered."""
    if not database_file or database_file == ":memory:":
        return []
    directory = _directory_for(database_file)
    try:
        if os.stat(directory).st_uid != os.getuid():
            return []
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    removed = []
    for name in names:
        match = _SOCKET_NAME.match(name)
        path = os.path.join(directory, name)
        try:
            if not match or not stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
        except OSError:
            continue
        if not _alive(int(match.group(1))):
            _unlink(path)
            removed.append(name)
    return removed


_SOCKET_NAME = re.compile(r"^([1-9][0-9]*)-[0-9a-f]{8}\.sock$")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, say: alive, its socket is not ours to take
        return True
    return True


def _directory_for(database_file):
    name = hashlib.sha256(os.path.realpath(database_file).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"schedules-{name}")


def _own_directory(directory):
    """Create the directory (mode 0700) unless there; refuse one of another user."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.stat(directory).st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user")


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
