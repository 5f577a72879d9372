"""Logging for the server: records queued by the request threads (QueueHandler) and
written by one thread of the standard library's own (QueueListener), as text or as one
JSON object per line."""

import datetime as dt
import json
import logging
import logging.handlers
import queue

from flask import g, has_request_context

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# The record attributes a JSON line carries, when a record has them (logging's `extra`).
# A list, not "every extra attribute": nothing reaches the log that was not meant to.
FIELDS = ("method", "path", "route", "status", "duration_ms", "user_id", "request_id",
          "job_id", "run_id", "result", "worker_id", "attempt", "model", "outcome")


class RequestFields(logging.Filter):
    """Stamps the request's id and user on every record logged while it is handled, in
    the thread that handles it (before the record is queued)."""

    def filter(self, record):
        if has_request_context():
            if getattr(record, "request_id", None) is None:
                record.request_id = g.get("jobsapi_request_id")
            if getattr(record, "user_id", None) is None:
                user = g.get("jobsapi_user")
                record.user_id = None if user is None else user.id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, then the FIELDS it has."""

    def format(self, record):
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:  # a record not prepared by a QueueHandler (those carry it in msg)
            entry["msg"] = f"{entry['msg']}\n{self.formatException(record.exc_info)}"
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        return json.dumps(entry, default=str)


def formatter(log_format):
    """The Formatter for JOBSAPI_LOG_FORMAT: text (the default) or json."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(FORMAT)


class LogWriter:
    """The root logger's records, at `level` and above, go through a queue to `handler`,
    written by a QueueListener thread: a request thread never waits on the stream."""

    def __init__(self, handler, level=logging.NOTSET):
        self.queue = queue.SimpleQueue()
        self.handler = handler
        self.queue_handler = logging.handlers.QueueHandler(self.queue)
        self.queue_handler.setLevel(level)
        self.queue_handler.addFilter(RequestFields())
        self.listener = logging.handlers.QueueListener(self.queue, handler)

    def start(self):
        self.listener.start()
        return self

    def stop(self):
        """Write what is queued, then end the thread."""
        self.listener.stop()


def configure(level, stream=None, log_format="text"):
    """Route every record at `level` and above through a LogWriter to `stream` (stderr),
    as text or JSON lines; returns the started writer, which the caller stops."""
    console = logging.StreamHandler(stream)
    console.setFormatter(formatter(log_format))
    writer = LogWriter(console)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(writer.queue_handler)
    return writer.start()
