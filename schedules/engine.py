"""The scheduler: its state and admin changes.

The loop lives in loop.py, firing in slots.py, running tasks in runs.py, leases in
leases.py: each a part of the Scheduler class."""

import datetime as dt
import logging
import os
import queue
import socket
import threading
import uuid

from . import cron
from .doorbell import LocalBell, bell_for
from .leases import Leases
from .loop import CLAIM_AHEAD, Loop
from .models import ScheduledJob, bind, write_transaction
from .registry import Registry
from .runs import AlreadyRunning, Runs
from .slots import SlotClaims, next_fire

log = logging.getLogger("schedules")

__all__ = ["CLAIM_AHEAD", "AlreadyRunning", "NotScheduled", "Scheduler", "UnknownJob"]

class UnknownJob(LookupError):
    """No task is registered under that id."""


class NotScheduled(RuntimeError):
    """The job is disabled, so it cannot be started."""


def utcnow():
    """Now as naive UTC, to the millisecond: run times are stored as they are shown, so
    the run logs sort the same in the database as on the page."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Scheduler(Loop, SlotClaims, Runs, Leases):
    """Unbound until `configure(database, ...)`; `start()` runs the loop thread.

    The engine's models are bound to the scheduler's database in its own threads; a
    thread of the host that calls its methods binds them first (models.bind), as
    configure() does for the thread calling it."""

    def __init__(self, registry=None):
        self.registry = registry if registry is not None else Registry()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.db = None
        self.host_models = []
        self.settings = {}  # handed to every task in its context
        # Called with (run, result, duration_ms) once a run's end is recorded (metrics);
        # a listener that raises is logged and never stops the engine.
        self.run_listeners = []
        self.timezone = "UTC"
        self.misfire_grace = dt.timedelta(hours=1)
        self.shutdown_grace = 30.0
        self.lease = dt.timedelta(seconds=30)
        self.heartbeat_every = 10.0
        self.max_sleep = 30.0
        self.clock = utcnow
        self._bell = LocalBell()  # wakes the loop; a shared one wakes other processes' too
        self._ring_listeners = self._bell.listeners  # kept by every bell the loop gets
        self._stopping = threading.Event()
        self._thread = None
        self._pool = None
        self._threads = 4
        self.loop_beat = None  # monotonic time of the loop's last pass
        self._inflight = set()  # ids of runs claimed here and not finished
        self._finished = queue.SimpleQueue()  # outcomes waiting to be written
        self._recording = threading.Lock()
        self._deadline = None  # monotonic time the loop should pass again by
        self._last_heartbeat = self._last_reap = 0.0
        self._watching = True  # runs not renewed here were running at the last look
        self._wake_reason = False  # a change here asks for a fresh tick
        self._version = None  # newest updated_at of the jobs at the last tick
        self._soonest = None  # next fire time found by the last tick

    def configure(self, db, *, timezone="UTC", threads=4, misfire_grace=3600,
                  shutdown_grace=30, lease=30, clock=None, settings=None, models=()):
        """Bind to a peewee database holding the engine's tables, and set the knobs.
        `models` are the host's models its tasks use: bound with the engine's in the
        scheduler's threads."""
        self.db = db
        self.host_models = list(models)
        self._bind()
        if self._thread is None:  # a running loop keeps the bell it waits on
            self._bell.close()
            self._bell = bell_for(db)
            self._bell.listeners = self._ring_listeners
        cron.zone(timezone)  # fail early on an unknown zone
        self.timezone = timezone
        self._threads = threads
        self.misfire_grace = dt.timedelta(seconds=misfire_grace)
        self.shutdown_grace = float(shutdown_grace)
        self.lease = dt.timedelta(seconds=lease)
        self.heartbeat_every = max(lease / 3, 0.5)
        self.max_sleep = max(min(30.0, lease / 2), 0.5)
        if clock is not None:
            self.clock = clock
        if settings is not None:
            self.settings = settings
        return self

    def _bind(self):
        """Bind the engine's models (and the host's) to this scheduler's database in the
        calling thread."""
        bind(self.db)
        if self.host_models:
            self.db.bind(self.host_models, bind_refs=False, bind_backrefs=False)

    # -- state ---------------------------------------------------------------

    def sync(self, now=None):
        """Give every registered task a row; existing rows (admins' changes) are kept."""
        now = now or self.clock()
        with write_transaction(self.db):
            known = {row.id for row in ScheduledJob.select(ScheduledJob.id)}
            for spec in self.registry:
                if spec.id not in known:
                    ScheduledJob.create(id=spec.id, last_slot=now, updated_at=now)

    def spec(self, job_id):
        spec = self.registry.get(job_id)
        if spec is None:
            raise UnknownJob(job_id)
        return spec

    def _row(self, job_id):
        self.spec(job_id)
        row = ScheduledJob.get_or_none(ScheduledJob.id == job_id)
        if row is None:
            self.sync()
            row = ScheduledJob.get_by_id(job_id)
        return row

    def schedule_of(self, row):
        return row.schedule or self.spec(row.id).schedule

    def enabled(self, row):
        return self.spec(row.id).enabled if row.enabled is None else row.enabled

    def is_scheduled(self, row):
        return self.enabled(row) and not row.stopped

    def next_run(self, row, now=None):
        """The next slot this job will fire at, or None when it is not scheduled."""
        if not self.is_scheduled(row):
            return None
        now = now or self.clock()
        try:
            return next_fire(self.schedule_of(row), row.last_slot or now, self.timezone)
        except Exception:  # a schedule stored before it was validated as it is now
            log.exception("cannot compute the next run of %s", row.id)
            return None

    # -- admin changes ---------------------------------------------------------

    def update(self, job_id, *, enabled=None, schedule=None, now=None):
        """Enable/disable (enabling also clears a stop) and/or change the schedule."""
        if schedule is not None:
            cron.validate_schedule(schedule)
        with write_transaction(self.db):
            now = now or self.clock()  # in the transaction: times follow the order of writes
            row = self._row(job_id)
            if enabled is not None:
                row.enabled = enabled
                if enabled:
                    row.stopped = False
            if schedule is not None:
                row.schedule = schedule
            row.last_slot = _later(row.last_slot, now)  # no catch-up for the paused time
            row.updated_at = now
            row.save()
        self.wake(everywhere=True)
        return row

    def set_stopped(self, job_id, stopped, now=None):
        """Stop or start the job's schedule; starting a disabled job is refused."""
        with write_transaction(self.db):
            now = now or self.clock()  # in the transaction: times follow the order of writes
            row = self._row(job_id)
            if not stopped and not self.enabled(row):
                raise NotScheduled(f"Job is disabled: enable it before starting it: {job_id}")
            if row.stopped != stopped:
                row.stopped = stopped
                row.last_slot = _later(row.last_slot, now)
                row.updated_at = now
                row.save()
        self.wake(everywhere=True)
        return row


def _later(slot, now):
    """The later of a job's last handled slot and now: last_slot never moves back."""
    return now if slot is None else max(slot, now)
