"""The scheduler's loop: one thread that fires due slots, watches leases and sleeps."""

import datetime as dt
import logging
import threading
import time

from .doorbell import LocalBell

log = logging.getLogger("schedules")

# The longest an idle loop sleeps with nothing to watch: bounds what a step of the wall
# clock can do to the next slot's time.
IDLE_MAX = 3600.0
# The loop claims a slot this long before its time and starts the runs at the time, so
# that the claim (a write transaction: a few milliseconds for a hundred jobs) does not
# make them late. Quartz calls this firing ahead; kept small, an admin's change made in
# the last moments before a slot applies from the next one.
CLAIM_AHEAD = dt.timedelta(milliseconds=20)


class Loop:
    """The Scheduler's loop thread: start, stop, wake, and what one pass does."""

    def wake(self, everywhere=False):
        """Make the loop re-read the jobs now (after a change), and with `everywhere` the
        loops of the other processes on the database as well."""
        self._wake_reason = True
        self._bell.wake()
        if everywhere:
            self._bell.ring()

    def ring(self):
        """Wake the schedulers (and whoever listens to their bell) of the other processes
        on the database: something there may want to look again."""
        self._bell.ring()

    def on_ring(self, listener):
        """Call `listener()` whenever another process on the database rings (from the
        bell's reader thread, while the loop runs)."""
        self._ring_listeners.append(listener)

    def start(self):
        """Start the loop thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        with self.db.connection_context():
            self.sync()
        try:
            self._bell.listen()
        except OSError as exc:
            log.warning("scheduler wake-ups are local only (polling for other processes): %s",
                        exc)
            self._bell = LocalBell()
            self._bell.listeners = self._ring_listeners
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
        with self.db.connection_context():
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
        self._bind()
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
        with self.db.connection_context():
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
            version = self.jobs_version()
            if self._wake_reason or version != self._version or self._soonest is None:
                self._wake_reason, self._version = False, version
                claimed, self._soonest = self.tick(now)
                self._submit_all(claimed)
        return self._sleep()

    def _sleep(self):
        """How long the loop may sleep before its next pass."""
        watching = self._watching or not self._bell.shared
        sleep = self.max_sleep if watching else IDLE_MAX
        if self._soonest is not None:
            ahead = self._soonest - CLAIM_AHEAD - self.clock()
            sleep = min(sleep, max(ahead.total_seconds(), 0.0))
        if self._inflight:
            sleep = min(sleep, self.heartbeat_every)
        return sleep

    def _submit_all(self, runs):
        for run in runs:
            self.submit(run)

    def _start_at(self, slot, runs):
        """Submit runs claimed ahead of their slot once its time has come."""
        early = (slot - self.clock()).total_seconds()
        if runs and early > 0:
            self._stopping.wait(min(early, CLAIM_AHEAD.total_seconds()))
        self._submit_all(runs)
