"""Leases on runs: renewed while a process runs them, closed as interrupted when not."""

from .models import JobRun, write_transaction
from .runs import duration_ms


class Leases:
    """The Scheduler's watching half: heartbeats for its own runs, reaping others'."""

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
        return self._interrupt(JobRun.heartbeat_at < stale_before, now,
                               "Interrupted: its process stopped (no heartbeat).")

    def interrupt_own(self, reason, now=None):
        """Close the runs this scheduler still holds as interrupted (on stop)."""
        now = now or self.clock()
        return self._interrupt(JobRun.owner == self.owner, now, reason)

    def _interrupt(self, condition, now, reason):
        """Close the running runs matching `condition` as interrupted, each with its
        duration; return how many were closed."""
        running = (JobRun.result == "running") & condition
        closed = 0
        with write_transaction(self.db):
            runs = list(JobRun.select(JobRun.id, JobRun.started_at).where(running).tuples())
            for run_id, started in runs:
                completed = max(now, started)
                closed += JobRun.update(
                    result="interrupted", completed_at=completed, details=reason,
                    duration_ms=duration_ms(started, completed),
                ).where(running & (JobRun.id == run_id)).execute()
        return closed
