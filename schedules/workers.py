"""A small pool of daemon threads: a hung task can never block the process from exiting."""

import logging
import queue
import threading
import time

log = logging.getLogger("schedules")


class WorkerPool:
    def __init__(self, size, handler, initializer=None):
        self._queue = queue.Queue()
        self._handler = handler
        self._initializer = initializer  # called first in each thread
        self._threads = [
            threading.Thread(target=self._work, name=f"scheduler-worker-{n}", daemon=True)
            for n in range(max(1, size))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, item):
        self._queue.put(item)

    def _work(self):
        if self._initializer is not None:
            self._initializer()
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._handler(item)
            except BaseException:  # a worker must outlive whatever one item does
                log.exception("worker item failed")

    def stop(self, grace):
        """Let queued and running items finish within `grace` seconds; then give up on them."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
