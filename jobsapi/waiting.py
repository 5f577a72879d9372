"""Claims that wait for work: woken when a job is made due in this process, or in another
on the database (through the scheduler's bell), else by polling.

Waiting calls are capped (they each hold a server thread): past the cap a claim is
answered at once. A waiting claim holds no database connection while it sleeps."""

import threading
import time

from flask import current_app

from . import database



class Busy(Exception):
    """Every waiting slot is taken."""


class Waiting:
    def __init__(self, slots, poll_seconds):
        self.poll_seconds = poll_seconds  # jobs made due by time are seen this often
        self._slots = threading.BoundedSemaphore(max(slots, 1))
        self._changed = threading.Condition()
        self._generation = 0

    def notify(self):
        """Jobs may have become due here: wake the waiting claims."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def until_claimed(self, claim, seconds):
        """Call `claim()` until it returns something or `seconds` have passed; Busy when
        no waiting slot is free (the caller answers at once)."""
        deadline = time.monotonic() + seconds
        if not self._slots.acquire(blocking=False):
            raise Busy()
        try:
            while True:
                seen = self._generation
                claimed = claim()
                left = deadline - time.monotonic()
                if claimed or left <= 0:
                    return claimed
                database.current().close()  # sleep without holding a pooled connection
                with self._changed:
                    self._changed.wait_for(lambda: self._generation != seen,
                                           min(left, self.poll_seconds))
        finally:
            self._slots.release()


def init_app(app):
    """The app's Waiting, woken too when another process rings the scheduler's bell."""
    config = app.config
    waiting = Waiting(config["JOBSAPI_WAITING_CLAIMS"] or config["JOBSAPI_THREADS"] // 2,
                      config["JOBSAPI_CLAIM_POLL_SECONDS"])
    app.extensions["jobsapi.waiting"] = waiting
    scheduler = app.extensions.get("jobsapi.scheduler")
    if scheduler is not None:
        scheduler.on_ring(waiting.notify)


def jobs_due():
    """Jobs became due here: wake the claims waiting in this process and, through the
    scheduler's bell, in the others on the database."""
    current_app.extensions["jobsapi.waiting"].notify()
    scheduler = current_app.extensions.get("jobsapi.scheduler")
    if scheduler is not None:
        scheduler.ring()


def waiting():
    """The app's Waiting."""
    return current_app.extensions["jobsapi.waiting"]
