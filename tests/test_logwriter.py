"""The log writer: every record written, in order, a batch per write; stop drains."""

import io
import logging
import threading

from jobsapi.logwriter import Formatter, Handoff, LogWriter, record


class CountingStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, text):
        self.writes += 1
        return super().write(text)


def _logger(writer, name):
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers[:] = [Handoff(writer.queue)]
    return logger


def test_records_from_many_threads_are_all_written_in_batches():
    stream = CountingStream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    writer = LogWriter(handler, delay=0.05)
    writer.start()
    logger = _logger(writer, "test.logwriter.batches")

    def burst(n):
        for i in range(100):
            logger.info("thread %d line %d", n, i)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 400
    for n in range(4):
        assert [line for line in lines if f"thread {n} " in line] == [
            f"INFO thread {n} line {i}" for i in range(100)]
    assert stream.writes < 40  # 400 records, written a batch at a time


def test_stop_writes_what_is_queued_and_an_error_keeps_its_traceback():
    stream = io.StringIO()
    writer = LogWriter(logging.StreamHandler(stream), delay=10)  # only stop() ends the wait
    writer.start()
    logger = _logger(writer, "test.logwriter.stop")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    logger.info("last")
    writer.stop()
    text = stream.getvalue()
    assert "failed\nTraceback" in text and "ValueError: boom" in text
    assert text.endswith("last\n")


def test_a_message_is_written_as_it_was_when_logged():
    stream = io.StringIO()
    writer = LogWriter(logging.StreamHandler(stream), delay=10)
    writer.start()
    logger = _logger(writer, "test.logwriter.merged")
    changing = ["before"]
    logger.info("value %s", changing)
    changing[0] = "after"
    writer.stop()
    assert stream.getvalue() == "value ['before']\n"


def test_a_deferred_record_is_made_by_the_writer_and_written_in_its_place():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(asctime)s %(message)s"))
    writer = LogWriter(handler, delay=10)
    writer.start()
    logger = _logger(writer, "test.logwriter.deferred")
    made_by = []

    def make():
        made_by.append(threading.current_thread().name)
        return record(logger, logging.INFO, "second", 86400 * 365.25 * 30 + 0.5)

    logger.info("first")
    writer.defer(make)
    writer.defer(lambda: record(logger, logging.DEBUG, "below the level", 0.0))
    logger.info("third")
    writer.stop()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ")[-1] for line in lines] == ["first", "second", "third"]
    assert made_by == ["log-writer"]
    assert ",500 second" in lines[1]  # the time given, not the time it was made


def test_the_formatter_writes_times_as_logging_does():
    stock = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    ours = Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger("test.logwriter.formatter")
    for created in (0.0, 1.999, 1_700_000_000.5004, 1_700_000_000.5, 1_700_000_059.0421):
        made = record(logger, logging.WARNING, "m", created)
        assert ours.format(made) == stock.format(made)
    assert ours.formatTime(made, "%H:%M") == stock.formatTime(made, "%H:%M")
