"""Claims that wait for work: woken when this process makes a job due, else polling.

Waiting calls are capped (they each hold a server thread): past the cap a claim is
answered at once. A waiting claim holds no database connection while it sleeps."""

import threading
import time

from flask import current_app

from . import database

POLL_SECONDS = 0.5  # jobs made due by other processes, or by time, are seen this often


class Busy(Exception):
    """Every waiting slot is taken."""


class Waiting:
    def __init__(self, slots):
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
                                           min(left, POLL_SECONDS))
        finally:
            self._slots.release()


def init_app(app):
    slots = app.config["JOBSAPI_WAITING_CLAIMS"] or app.config["JOBSAPI_THREADS"] // 2
    app.extensions["jobsapi.waiting"] = Waiting(slots)


def waiting():
    """The app's Waiting."""
    return current_app.extensions["jobsapi.waiting"]
