"""Logging for the server: records queued by the request threads (QueueHandler) and
written by one thread of the standard library's own (QueueListener)."""

import logging
import logging.handlers
import queue

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogWriter:
    """The root logger's records, at `level` and above, go through a queue to `handler`,
    written by a QueueListener thread: a request thread never waits on the stream."""

    def __init__(self, handler, level=logging.NOTSET):
        self.queue = queue.SimpleQueue()
        self.handler = handler
        self.queue_handler = logging.handlers.QueueHandler(self.queue)
        self.queue_handler.setLevel(level)
        self.listener = logging.handlers.QueueListener(self.queue, handler)

    def start(self):
        self.listener.start()
        return self

    def stop(self):
        """Write what is queued, then end the thread."""
        self.listener.stop()


def configure(level, stream=None):
    """Route every record at `level` and above through a LogWriter to `stream` (stderr);
    returns the started writer, which the caller stops."""
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter(FORMAT))
    writer = LogWriter(console)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(writer.queue_handler)
    return writer.start()
