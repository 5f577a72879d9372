"""Log records written by one thread, a batch at a time, so request threads never write."""

import logging
import logging.handlers
import queue
import threading

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

    def _write(self, records):
        handler, lines = self.handler, []
        for record in records:
            try:
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
                handler.handleError(records[-1])


class Handoff(logging.handlers.QueueHandler):
    """Puts each record on the writer's queue with its message merged, and nothing more.
    The stock QueueHandler formats the record and copies it in the request thread, half
    of an access-log line's cost there; the writer formats it anyway. The traceback of a
    record, if any, is rendered by the writer."""

    def prepare(self, record):
        record.msg, record.args = record.getMessage(), None
        return record


def configure(level, stream=None):
    """Route every record at `level` and above through a LogWriter to `stream` (stderr)."""
    # The format shows none of where a record was logged from, its thread or its process:
    # skip collecting them (the logging HOWTO's "Optimization" switches), a third of the
    # cost of an access-log line.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    writer = LogWriter(console)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(Handoff(writer.queue))
    writer.start()
    return writer
