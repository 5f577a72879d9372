"""Wake-ups across the hosts scheduling on one PostgreSQL database: LISTEN/NOTIFY.

Each process keeps one listening connection of its own (autocommit: it never sits in a
transaction), reconnecting after a drop. A ring is one NOTIFY; sent inside a
transaction it leaves at commit, and PostgreSQL folds the same one sent twice. Where
notifications do not arrive (a pooler in transaction mode), the process says so once in
its log and the loop polls instead."""

import logging
import threading
import uuid

import peewee as pw

from .doorbell import LocalBell

log = logging.getLogger("schedules")

CHANNEL = "schedules_wake"
PROBE_SECONDS = 5.0  # how long a fresh listener waits for its own test notification
RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits between attempts after a drop, then the last
# A listening connection only reads: TCP keepalives find a peer gone without a word (a
# network cut, a failover) within about a minute, and the listener connects again.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
              "keepalives_count": 3}


class NotifyBell(LocalBell):
    """A bell on a PostgreSQL peewee database; `shared` stays True while notifications
    arrive."""

    shared = True

    def __init__(self, database):
        super().__init__()
        self.database = database
        self.token = uuid.uuid4().hex  # this process's rings, which its listener passes over
        self._stopping = threading.Event()
        self._reader = None
        self._connection = None
        self._warned = False
        self.listening = threading.Event()  # set while notifications are known to arrive

    def listen(self):
        """Start the listening thread (before the loop starts)."""
        super().listen()
        self._stopping.clear()
        self._reader = threading.Thread(target=self._listen, daemon=True,
                                        name="scheduler-listen")
        self._reader.start()

    def ring(self):
        """Wake every other process on the database: one NOTIFY, at commit when called in
        a transaction. A database that cannot be reached wakes no one (the poll will)."""
        db = self.database
        try:
            if db.is_closed():
                with db.connection_context():
                    self._notify(db, self.token)
            else:
                self._notify(db, self.token)
        except pw.DatabaseError as exc:
            log.debug("could not ring the other processes: %s", exc)

    @staticmethod
    def _notify(db, payload):
        db.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def close(self):
        """Stop listening and close the listening connection."""
        self._stopping.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.cancel_safe(timeout=2)
            except Exception:  # already gone
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def _listen(self):
        """Listen until closed: connect, LISTEN, check that notifications arrive, then
        wake the loop on each; after a drop (or any failure), connect again."""
        import psycopg

        attempt = 0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.database.database, autocommit=True,
                                     **{**KEEPALIVES, **self.database.connect_params}
                                     ) as connection:
                    self._connection = connection
                    connection.execute(f"LISTEN {CHANNEL}")
                    if attempt:
                        log.info("scheduler wake-ups: listening again on PostgreSQL")
                    attempt = 0
                    self._probe(connection)
                    self._event.set()  # whatever was rung while away: look now
                    self._receive(connection)
            except Exception as exc:  # noqa: BLE001 - the driver's, or the pool's (the probe)
                if self._stopping.is_set():
                    return
                if attempt == 0:
                    log.warning("scheduler wake-ups: lost the listening connection (%s); "
                                "polling until it is back", str(exc).strip().splitlines()[0]
                                if str(exc).strip() else type(exc).__name__)
                self.shared = False
                self._stopping.wait(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
                attempt += 1
            finally:
                self._connection = None
                self.listening.clear()

    def _probe(self, connection):
        """Send a notification to ourselves: if it does not come back, notifications do
        not arrive here (say so once) and the loop polls."""
        probe = f"probe-{uuid.uuid4().hex}"
        with self.database.connection_context():
            self._notify(self.database, probe)
        for note in connection.notifies(timeout=PROBE_SECONDS):
            if note.payload == probe:
                self.shared = True
                self.listening.set()
                return
        self.shared = False
        if not self._warned:
            self._warned = True
            log.warning("scheduler wake-ups: PostgreSQL notifications do not arrive (a "
                        "pooler in transaction mode?); polling instead")

    def _receive(self, connection):
        while not self._stopping.is_set():
            for note in connection.notifies(timeout=1.0):
                if note.payload == self.token or note.payload.startswith("probe-"):
                    continue
                self._heard_ring()
