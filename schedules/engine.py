"""The scheduler: claims slots through the database, runs tasks on a small pool."""

import contextlib
import datetime as dt
import functools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from typing import NamedTuple

import peewee as pw

from . import cron
from .doorbell import LocalBell, bell_for
from .models import JobRun, ScheduledJob, database
from .registry import Registry, TaskContext
from .workers import WorkerPool

log = logging.getLogger("schedules")

DETAILS_MAX = 2000
# The longest an idle loop sleeps with nothing to watch: bounds what a step of the wall
# clock can do to the next slot's time.
IDLE_MAX = 3600.0
# The loop claims a slot this long before its time and starts the runs at the time, so
# that the claim (a write transaction: a few milliseconds for a hundred jobs) does not
# make them late. Quartz calls this firing ahead; kept small, an admin's change made in
# the last moments before a slot applies from the next one.
CLAIM_AHEAD = dt.timedelta(milliseconds=20)


class UnknownJob(LookupError):
    """No task is registered under that id."""


class AlreadyRunning(RuntimeError):
    """The job has an active run."""


class NotScheduled(RuntimeError):
    """The job is disabled, so it cannot be started."""


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)
def _next_fire(expression, after, tz_name):
    return cron.next_fire(expression, after, cron.zone(tz_name))


@functools.lru_cache(maxsize=1024)
def _previous_fire(expression, at, tz_name):
    return cron.previous_fire(expression, at, cron.zone(tz_name))


class Scheduler:
    """Unbound until `configure(database, ...)`; `start()` runs the loop thread."""

    def __init__(self, registry=None):
        self.registry = registry if registry is not None else Registry()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.timezone = "UTC"
        self.misfire_grace = dt.timedelta(hours=1)
        self.shutdown_grace = 30.0
        self.lease = dt.timedelta(seconds=30)
        self.heartbeat_every = 10.0
        self.max_sleep = 30.0
        self.clock = utcnow
        self._bell = LocalBell()  # wakes the loop; a shared one wakes other processes' too
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
                  shutdown_grace=30, lease=30, clock=None):
        """Bind to a peewee database holding the engine's tables, and set the knobs."""
        database.initialize(db)
        if self._thread is None:  # a running loop keeps the bell it waits on
            self._bell.close()
            self._bell = bell_for(getattr(db, "database", None))
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
        return self

    # -- state ---------------------------------------------------------------

    def sync(self, now=None):
        """Give every registered task a row; existing rows (admins' changes) are kept."""
        now = now or self.clock()
        with database.atomic("IMMEDIATE"):
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
            return _next_fire(self.schedule_of(row), row.last_slot or now, self.timezone)
        except Exception:  # a schedule stored before it was validated as it is now
            log.exception("cannot compute the next run of %s", row.id)
            return None

    # -- admin changes ---------------------------------------------------------

    def update(self, job_id, *, enabled=None, schedule=None, now=None):
        """Enable/disable (enabling also clears a stop) and/or change the schedule."""
        now = now or self.clock()
        if schedule is not None:
            cron.validate_schedule(schedule)
        with database.atomic("IMMEDIATE"):
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
        now = now or self.clock()
        with database.atomic("IMMEDIATE"):
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

    # -- firing ----------------------------------------------------------------

    def tick(self, now=None):
        """Claim every due slot; return (claimed runs, the next fire time or None)."""
        now = now or self.clock()
        due, soonest = [], None
        # Read all rows first: a SELECT still being stepped holds a read snapshot, and
        # BEGIN IMMEDIATE from a snapshot fails at once ("database is locked") instead of
        # waiting its turn while another connection writes.
        for row in _job_rows():
            if row.id not in self.registry or not self.is_scheduled(row):
                continue
            try:
                expression = self.schedule_of(row)
                first = _next_fire(expression, row.last_slot or now, self.timezone)
                if first <= now:
                    due.append(row.id)
                    first = _next_fire(expression, now, self.timezone)
            except Exception:  # one broken job must not stop the others
                log.exception("scheduling job %s failed", row.id)
                continue
            soonest = first if soonest is None else min(soonest, first)
        return self._claim_all(due, now), soonest

    def _claim_all(self, job_ids, now):
        """Claim the due jobs' slots in one write transaction; return the runs to start.

        Each job's row is read again inside the transaction: a slot another process
        already handled (its last_slot moved on) is left alone. The slot is marked
        handled even when a run row for it exists already, so a job can never get stuck
        re-claiming one slot; the unique (job, slot) and one-running-run-per-job indexes
        make every insert a no-op rather than a duplicate.
        """
        if not job_ids:
            return []
        tz = cron.zone(self.timezone)
        handled, records, starts = [], [], {}
        with _checkpoint_later(), database.atomic("IMMEDIATE"):
            rows = {row.id: row for row in _job_rows(job_ids)}
            active = dict(database.execute_sql(
                "SELECT job_id, id FROM job_runs WHERE result = 'running'").fetchall())
            for job_id in job_ids:
                row = rows.get(job_id)
                try:
                    plan = self._plan(row, now, tz, active.get(job_id))
                except Exception:  # one broken job must not stop the others
                    log.exception("claiming a slot of %s failed", job_id)
                    continue
                if plan is not None:
                    latest, job_records, start = plan
                    handled.append((_stamp(latest), job_id))
                    records.extend(job_records)
                    if start:
                        starts[job_id] = latest
            cursor = database.cursor()
            # updated_at stays: it marks admins' changes, which make the loops read again.
            cursor.executemany("UPDATE scheduled_jobs SET last_slot = ? WHERE id = ?", handled)
            cursor.executemany(_INSERT_RUN, records)
            claimed, stamp = [], _stamp(now)
            for chunk in _chunks(list(starts.items()), 500):  # 10 parameters a row
                values = [(job_id, _stamp(slot), stamp, None, None, "running", "scheduler", None,
                           self.owner, stamp) for job_id, slot in chunk]
                inserted = cursor.execute(
                    _INSERT_RUNS.format(", ".join([_ROW_MARKS] * len(values))),
                    [value for row in values for value in row],
                ).fetchall()
                claimed.extend(Claim(run_id, job_id, starts[job_id], now, "running", "scheduler",
                                     self.owner) for run_id, job_id in inserted)
        self._inflight.update(run.id for run in claimed)
        if claimed:
            self._bell.ring()
        return claimed

    def _plan(self, row, now, tz, active_run_id):
        """What to do for a due job: (slot to mark handled, rows to record, start a run?)."""
        if row is None or not self.is_scheduled(row):
            return None
        expression = self.schedule_of(row)
        first = _next_fire(expression, row.last_slot or now, self.timezone)
        if first > now:
            return None  # another process took this slot
        if _next_fire(expression, first, self.timezone) > now:
            latest = first  # the usual case: exactly one slot is due
        else:
            latest = max(_previous_fire(expression, now, self.timezone), first)
        if now - latest > self.misfire_grace:
            return latest, [self._done(row.id, first, "missed", now,
                                       _missed(expression, first, latest, self))], False
        records = []
        if first < latest:
            earlier = cron.previous_fire(expression, latest - dt.timedelta(seconds=1), tz)
            records.append(self._done(row.id, first, "missed", now,
                                      _missed(expression, first, earlier, self)))
        if active_run_id is not None:
            records.append(self._done(row.id, latest, "skipped", now,
                                      f"Still running (run {active_run_id})."))
            return latest, records, False
        return latest, records, True

    @staticmethod
    def _done(job_id, slot, result, now, details):
        """The values of a finished (skipped or missed) slot's row."""
        return (job_id, _stamp(slot), _stamp(now), _stamp(now), 0, result, "scheduler", details,
                None, None)

    @staticmethod
    def active_run(job_id):
        return JobRun.get_or_none((JobRun.job == job_id) & (JobRun.result == "running"))

    def trigger(self, job_id, triggered_by, now=None):
        """Start a run now, outside the schedule (which it does not move)."""
        now = now or self.clock()
        self.spec(job_id)
        try:
            with database.atomic("IMMEDIATE"):
                self._row(job_id)
                if self.active_run(job_id) is not None:
                    raise AlreadyRunning(job_id)
                run = JobRun.create(job=job_id, scheduled_for=None, started_at=now,
                                    result="running", triggered_by=triggered_by,
                                    owner=self.owner, heartbeat_at=now)
        except pw.IntegrityError:
            raise AlreadyRunning(job_id) from None
        self._inflight.add(run.id)
        self._bell.ring()  # the other processes now have a run to watch the lease of
        self.submit(run)
        return run

    def _submit_all(self, runs):
        for run in runs:
            self.submit(run)

    def _start_at(self, slot, runs):
        """Submit runs claimed ahead of their slot once its time has come."""
        early = (slot - self.clock()).total_seconds()
        if runs and early > 0:
            self._stopping.wait(min(early, CLAIM_AHEAD.total_seconds()))
        self._submit_all(runs)

    def submit(self, run):
        """Run in the pool (started on first use), never in the caller's thread."""
        if self._pool is None:
            self._pool = WorkerPool(self._threads, self.execute)
        self._pool.submit(run)

    def execute(self, run):
        """Run the task for `run` here and now, and record how it ended."""
        try:
            if self._stopping.is_set():
                self._inflight.discard(run.id)
                return None  # shutting down: no new runs (stop() records it as interrupted)
            return self._execute(run)
        except BaseException:  # the run is then closed by its lapsed lease, never stuck
            log.exception("recording run %s of %s failed", run.id, run.job_id)
            self._inflight.discard(run.id)
            return None

    def _execute(self, run):
        spec = self.spec(run.job_id)
        context = TaskContext(run.id, run.job_id, run.triggered_by,
                              logging.getLogger(f"schedules.task.{run.job_id}"), self._stopping)
        log.info("run %s of %s started (%s)", run.id, run.job_id, run.triggered_by)
        try:
            with database.connection_context():
                details, result = spec.func(context), "success"
        except BaseException as exc:  # even SystemExit: the task failed, the worker goes on
            log.exception("task %s (run %s) failed", run.job_id, run.id)
            details, result = f"{type(exc).__name__}: {exc}", "error"
        # The duration is what the stored times say: a run claimed ahead starts at its
        # slot, and a clock stepped back must not end a run before it began.
        completed = max(self.clock(), run.started_at)
        duration = duration_ms(run.started_at, completed)
        details = None if details is None else str(details)[:DETAILS_MAX]
        self._finished.put((result, details, _stamp(completed), duration, run.id))
        self._record_finished()
        log.info("run %s of %s ended: %s in %d ms", run.id, run.job_id, result, duration)
        return result

    def _record_finished(self):
        """Write finished runs' outcomes, many per transaction when many finish at once.

        Whichever worker gets the lock writes everything finished so far; one that
        does not leaves its outcome to the holder (which looks again before leaving).
        """
        while not self._finished.empty() and self._recording.acquire(blocking=False):
            try:
                batch = []
                while not self._finished.empty():
                    batch.append(self._finished.get())
                try:
                    with database.connection_context(), database.atomic("IMMEDIATE"):
                        database.cursor().executemany(
                            "UPDATE job_runs SET result = ?, details = ?, completed_at = ?, "
                            "duration_ms = ? WHERE id = ? AND result = 'running'", batch)
                finally:  # written or not, no longer renewed: a lost write lapses to interrupted
                    self._inflight.difference_update(values[-1] for values in batch)
            finally:
                self._recording.release()

    # -- leases ----------------------------------------------------------------

    def heartbeat(self, now=None):
        """Renew the lease of the runs this scheduler claimed and has not finished."""
        now = now or self.clock()
        inflight = list(self._inflight)
        if inflight:
            JobRun.update(heartbeat_at=now).where(
                JobRun.id.in_(inflight) & (JobRun.result == "running")
            ).execute()

    def reap(self, now=None):
        """Close runs whose process stopped renewing their lease as `interrupted`."""
        now = now or self.clock()
        running = list(JobRun.select(JobRun.id, JobRun.heartbeat_at).where(  # a read: no lock
            JobRun.result == "running").tuples())
        # Runs whose lease no heartbeat of ours renews: the loop keeps an eye on them.
        self._watching = any(run_id not in self._inflight for run_id, _ in running)
        stale_before = now - self.lease
        if not any(beat < stale_before for _, beat in running):
            return 0
        return _interrupt(JobRun.heartbeat_at < stale_before, now,
                          "Interrupted: its process stopped (no heartbeat).")

    def interrupt_own(self, reason, now=None):
        now = now or self.clock()
        return _interrupt(JobRun.owner == self.owner, now, reason)

    # -- the loop --------------------------------------------------------------

    def wake(self, everywhere=False):
        """Make the loop re-read the jobs now (after a change), and with `everywhere` the
        loops of the other processes on the database as well."""
        self._wake_reason = True
        self._bell.wake()
        if everywhere:
            self._bell.ring()

    def start(self):
        """Start the loop thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        with database.connection_context():
            self.sync()
        try:
            self._bell.listen()
        except OSError as exc:
            log.warning("scheduler wake-ups are local only (polling for other processes): %s",
                        exc)
            self._bell = LocalBell()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, grace=None):
        """No new runs; give running tasks `grace` seconds, then mark the rest interrupted."""
        grace = self.shutdown_grace if grace is None else grace
        self._stopping.set()
        self._bell.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._bell.close()
        if self._pool is not None:
            self._pool.stop(grace)
            self._pool = None
        self._record_finished()
        with database.connection_context():
            self.interrupt_own("Interrupted: the service stopped before the task finished.")

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def stalled_for(self):
        """Seconds the loop is overdue for its next pass (0 when on time or not running)."""
        if not self.alive or self._deadline is None:
            return 0.0
        return max(time.monotonic() - self._deadline, 0.0)

    def _loop(self):
        while not self._stopping.is_set():
            self.loop_beat = time.monotonic()
            try:
                sleep = self._pass()
            except Exception:  # keep the loop alive through a passing database error
                log.exception("scheduler pass failed")
                sleep = 5.0
            self._deadline = time.monotonic() + sleep
            self._bell.wait(sleep)

    def _pass(self):
        """Renew leases, reap dead runs, and claim due slots; return how long to sleep.

        The rows are read and the cron maths done only when a slot is due or something
        changed. While no other process has a run going, nothing needs watching between
        slots: the loop sleeps until the next one, and a run starting or a job changing
        anywhere rings its bell. With a local bell it looks every `max_sleep` seconds.
        """
        beat = time.monotonic()
        with database.connection_context():
            now, slot = self.clock(), self._soonest
            if slot is not None and now >= slot - CLAIM_AHEAD:
                # A slot is due or about to be: claim it and start its runs at its time
                # first, look around after.
                claimed, self._soonest = self.tick(max(now, slot))
                self._start_at(slot, claimed)
            if self._inflight and beat - self._last_heartbeat >= self.heartbeat_every:
                self.heartbeat(now)
                self._last_heartbeat = beat
            # Unwatched, a pass means a slot, a change or a bell: look for others' runs.
            if not self._watching or beat - self._last_reap >= self.max_sleep:
                self.reap(now)
                self._last_reap = beat
            version = ScheduledJob.select(pw.fn.MAX(ScheduledJob.updated_at)).scalar()
            if self._wake_reason or version != self._version or self._soonest is None:
                self._wake_reason, self._version = False, version
                claimed, self._soonest = self.tick(now)
                self._submit_all(claimed)
        watching = self._watching or not self._bell.shared
        sleep = self.max_sleep if watching else IDLE_MAX
        if self._soonest is not None:
            ahead = self._soonest - CLAIM_AHEAD - self.clock()
            sleep = min(sleep, max(ahead.total_seconds(), 0.0))
        if self._inflight:
            sleep = min(sleep, self.heartbeat_every)
        return sleep


# ON CONFLICT DO NOTHING: a slot that has its row already, or a second running run of a
# job, is not inserted (SQLite and PostgreSQL alike); RETURNING lists the rows that were.
_RUN_COLUMNS = ("job_id, scheduled_for, started_at, completed_at, duration_ms, result, "
                "triggered_by, details, owner, heartbeat_at")
_ROW_MARKS = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_RUN = f"INSERT INTO job_runs ({_RUN_COLUMNS}) VALUES {_ROW_MARKS} ON CONFLICT DO NOTHING"
_INSERT_RUNS = (f"INSERT INTO job_runs ({_RUN_COLUMNS}) VALUES {{}} ON CONFLICT DO NOTHING "
                "RETURNING id, job_id")


class JobRow(NamedTuple):
    """What the loop reads of a scheduled_jobs row (the attributes of a ScheduledJob)."""

    id: str
    schedule: str | None
    enabled: bool | None
    stopped: bool
    last_slot: dt.datetime | None


class Claim(NamedTuple):
    """A run the loop claimed and starts (the attributes of its JobRun)."""

    id: int
    job_id: str
    scheduled_for: dt.datetime
    started_at: dt.datetime
    result: str
    triggered_by: str
    owner: str


def _job_rows(job_ids=None):
    """scheduled_jobs rows (all, or those of `job_ids`) in plain SQL: the loop reads them
    every time a slot is due, and the query builder cost more than the reading."""
    sql, params = "SELECT id, schedule, enabled, stopped, last_slot FROM scheduled_jobs", []
    if job_ids is not None:
        params = list(job_ids)
        sql += f" WHERE id IN ({', '.join('?' * len(params))})"
    return [JobRow(job_id, schedule, None if enabled is None else bool(enabled), bool(stopped),
                   None if last_slot is None else dt.datetime.fromisoformat(last_slot))
            for job_id, schedule, enabled, stopped, last_slot
            in database.execute_sql(sql, params).fetchall()]


@contextlib.contextmanager
def _checkpoint_later():
    """Within the block, SQLite's automatic WAL checkpoint (tens of milliseconds each
    thousand pages) is not run by this connection's commit but left to the next write:
    the tasks of a due slot wait for the claim, not for the checkpoint."""
    if not isinstance(database.obj, pw.SqliteDatabase):
        yield
        return
    pages = database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]
    database.execute_sql("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        database.execute_sql(f"PRAGMA wal_autocheckpoint = {int(pages)}")


def _interrupt(condition, now, reason):
    """Close the running runs matching `condition` as interrupted, each with its duration;
    return how many were closed."""
    running = (JobRun.result == "running") & condition
    closed = 0
    with database.atomic("IMMEDIATE"):
        runs = list(JobRun.select(JobRun.id, JobRun.started_at).where(running).tuples())
        for run_id, started in runs:
            completed = max(now, started)
            closed += JobRun.update(
                result="interrupted", completed_at=completed, details=reason,
                duration_ms=duration_ms(started, completed),
            ).where(running & (JobRun.id == run_id)).execute()
    return closed


_EPOCH = dt.datetime(1970, 1, 1)
_MILLISECOND = dt.timedelta(milliseconds=1)


def duration_ms(started, completed):
    """Milliseconds from `started` to `completed` as the API shows both: each time cut to
    the millisecond, so a run's duration always equals completedAt - startedAt."""
    return max((completed - _EPOCH) // _MILLISECOND - (started - _EPOCH) // _MILLISECOND, 0)


def _chunks(items, size):
    return (items[start:start + size] for start in range(0, len(items), size))


def _stamp(value):
    """A naive UTC datetime as the database stores it (as peewee writes it)."""
    return None if value is None else str(value)


def _later(slot, now):
    """The later of a job's last handled slot and now: last_slot never moves back."""
    return now if slot is None else max(slot, now)


def _missed(expression, first, last, scheduler):
    count = len(cron.fires_between(expression, first - dt.timedelta(microseconds=1), last,
                                   cron.zone(scheduler.timezone), limit=10000))
    more = "+" if count >= 10000 else ""
    if count <= 1:
        return f"Missed the slot of {first.isoformat()}Z while the service was down."
    return (f"Missed {count}{more} slots from {first.isoformat()}Z to {last.isoformat()}Z "
            "while the service was down.")
