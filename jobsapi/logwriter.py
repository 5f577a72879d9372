"""Log records written by one thread, a batch at a time, so request threads never write."""

import functools
import logging
import logging.handlers
import queue
import threading
import time

_STOP = object()


class LogWriter:
    """Request threads put records on a queue (through a QueueHandler); this thread hands
    them to `handler`. It waits `delay` seconds after the first record of a batch and then
    writes all that came: under load a burst of access-log lines costs one wake-up and one
    write instead of one per request, each a handover of the interpreter lock."""

    def __init__(self, handler, delay=0.02):
        self.handler = handler
        self.delay = delay
        self.queue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def stop(self):
        """Write what is queued, then end the thread."""
        if self._thread is not None:
            self._stopping.set()
            self.queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self):
        while True:
            batch = [self.queue.get()]
            self._stopping.wait(self.delay)
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            stop = _STOP in batch
            self._write([record for record in batch if record is not _STOP])
            if stop:
                return

    def defer(self, make_record):
        """Queue `make_record`, which this thread calls to make a record (or None) and
        writes in its place among the others. For a record made on every request, the
        access log's: made here, a batch at a time, it costs a request thread a queue
        put instead of a pass through logging, and the making runs while its code is
        still in the processor's caches."""
        self.queue.put(make_record)

    def _write(self, items):
        handler, lines, record = self.handler, [], None
        for item in items:
            record = item
            try:
                if not isinstance(item, logging.LogRecord):
                    record = item()
                if record is not None:
                    lines.append(handler.format(record) + handler.terminator)
            except Exception:
                handler.handleError(record)
        if not lines:
            return
        with handler.lock:
            try:
                handler.stream.write("".join(lines))
                handler.flush()
            except Exception:
                handler.handleError(record)


class Handoff(logging.handlers.QueueHandler):
    """Puts each record on the writer's queue with its message merged, and nothing more.
    The stock QueueHandler formats the record and copies it in the request thread, half
    of an access-log line's cost there; the writer formats it anyway. The traceback of a
    record, if any, is rendered by the writer."""

    def prepare(self, record):
        record.msg, record.args = record.getMessage(), None
        return record


def record(logger, level, message, created):
    """A record of `logger` made now for an event that happened at `created`
    (time.time()), or None when the logger does not log at `level`. Made as a copy of
    a record made once for the logger and level: LogRecord() works out afresh what
    never changes here (the level's name, the file and module of the caller, which is
    unknown), a third of what the writer spends on an access-log line."""
    if not logger.isEnabledFor(level):
        return None
    made = logging.LogRecord.__new__(logging.LogRecord)
    made.__dict__.update(_template(logger.name, level))
    made.msg = message
    made.created, made.msecs = created, int((created - int(created)) * 1000) + 0.0
    made.relativeCreated = (created - logging._startTime) * 1000
    return made


@functools.lru_cache(maxsize=64)
def _template(name, level):
    return vars(logging.LogRecord(name, level, "(unknown file)", 0, "", None, None))


class Formatter(logging.Formatter):
    """logging.Formatter rendering the date and time of each second once: the writer
    formats a record per request."""

    def formatTime(self, record, datefmt=None):
        if datefmt or self.converter is not time.localtime:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        return f"{local_time(self.default_time_format, second)},{int(record.msecs):03d}"


@functools.lru_cache(maxsize=8)
def local_time(format, second):
    """A whole second (time.time()) in local time, as time.strftime(format) renders it;
    rendered once for each second and format: lines are written a thousand a second."""
    return time.strftime(format, time.localtime(second))


def configure(level, stream=None):
    """Route every record at `level` and above through a LogWriter to `stream` (stderr)."""
    # The format shows none of where a record was logged from, its thread or its process:
    # skip collecting them (the logging HOWTO's "Optimization" switches), a third of the
    # cost of an access-log line.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    console = logging.StreamHandler(stream)
    console.setFormatter(Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    writer = LogWriter(console)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(Handoff(writer.queue))
    writer.start()
    return writer
