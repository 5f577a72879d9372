"""Running tasks: manual triggers, the worker pool, and recording how each run ended."""

import datetime as dt
import logging

import peewee as pw

from .models import JobRun, write_transaction
from .registry import TaskContext
from .workers import WorkerPool

log = logging.getLogger("schedules")

DETAILS_MAX = 2000
_EPOCH = dt.datetime(1970, 1, 1)
_MILLISECOND = dt.timedelta(milliseconds=1)


class AlreadyRunning(RuntimeError):
    """The job has an active run."""


def duration_ms(started, completed):
    """Milliseconds from `started` to `completed` as the API shows both: each time cut to
    the millisecond, so a run's duration always equals completedAt - startedAt."""
    return max((completed - _EPOCH) // _MILLISECOND - (started - _EPOCH) // _MILLISECOND, 0)


def active_run(job_id):
    """The job's running run, or None."""
    return JobRun.get_or_none((JobRun.job == job_id) & (JobRun.result == "running"))


class Runs:
    """The Scheduler's running half: runs go to a pool, and their outcomes to the table."""

    def trigger(self, job_id, triggered_by, now=None):
        """Start a run now, outside the schedule (which it does not move)."""
        now = now or self.clock()
        self.spec(job_id)
        try:
            with write_transaction(self.db):
                self._row(job_id)
                if active_run(job_id) is not None:
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

    def submit(self, run):
        """Run in the pool (started on first use), never in the caller's thread."""
        if self._pool is None:
            self._pool = WorkerPool(self._threads, self.execute, self._bind)
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
                              logging.getLogger(f"schedules.task.{run.job_id}"),
                              self._stopping, self.settings)
        log.info("run %s of %s started (%s)", run.id, run.job_id, run.triggered_by,
                 extra={"job_id": run.job_id, "run_id": run.id})
        try:
            with self.db.connection_context():
                details, result = spec.func(context), "success"
        except BaseException as exc:  # even SystemExit: the task failed, the worker goes on
            log.exception("task %s (run %s) failed", run.job_id, run.id)
            details, result = f"{type(exc).__name__}: {exc}", "error"
        # The duration is what the stored times say: a run claimed ahead starts at its
        # slot, and a clock stepped back must not end a run before it began.
        completed = max(self.clock(), run.started_at)
        duration = duration_ms(run.started_at, completed)
        details = None if details is None else str(details)[:DETAILS_MAX]
        self._finished.put((run.id, dict(result=result, details=details,
                                         completed_at=completed, duration_ms=duration)))
        self._record_finished()
        log.info("run %s of %s ended: %s in %d ms", run.id, run.job_id, result, duration,
                 extra={"job_id": run.job_id, "run_id": run.id, "result": result,
                        "duration_ms": duration})
        self._tell_listeners(run, result, duration)
        return result

    def _tell_listeners(self, run, result, duration):
        for listener in list(self.run_listeners):
            try:
                listener(run, result, duration)
            except Exception:
                log.exception("a run listener failed on run %s of %s", run.id, run.job_id)

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
                    with self.db.connection_context(), write_transaction(self.db):
                        for run_id, outcome in batch:
                            JobRun.update(**outcome).where(
                                (JobRun.id == run_id) & (JobRun.result == "running")).execute()
                finally:  # written or not, no longer renewed: a lost write lapses to interrupted
                    self._inflight.difference_update(run_id for run_id, _ in batch)
            finally:
                self._recording.release()
