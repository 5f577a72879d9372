"""The log writer: every record written, in order, by its own thread; stop drains."""

import io
import logging
import threading

from jobsapi.logwriter import LogWriter


def _logger(writer, name):
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers[:] = [writer.queue_handler]
    return logger


def _writer(stream, format="%(levelname)s %(message)s"):
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(format))
    return LogWriter(handler).start()


def test_records_from_many_threads_are_all_written_by_the_writer_thread():
    stream = io.StringIO()
    writer = _writer(stream, "%(levelname)s %(threadName)s %(message)s")
    logger = _logger(writer, "test.logwriter.threads")
    written_by = []
    writer.handler.addFilter(lambda record: written_by.append(threading.current_thread()) or True)

    def burst(n):
        for i in range(100):
            logger.info("thread %d line %d", n, i)

    threads = [threading.Thread(target=burst, args=(n,), name=f"t{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 400
    for n in range(4):  # each line names the thread that logged it, in its order
        assert [line for line in lines if f" t{n} " in line] == [
            f"INFO t{n} thread {n} line {i}" for i in range(100)]
    assert len(set(written_by)) == 1  # one writer thread, none of those that logged
    assert not set(written_by) & {threading.main_thread(), *threads}


def test_stop_writes_what_is_queued_and_an_error_keeps_its_traceback():
    stream = io.StringIO()
    writer = _writer(stream, "%(message)s")
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
    writer = _writer(stream, "%(message)s")
    logger = _logger(writer, "test.logwriter.merged")
    changing = ["before"]
    logger.info("value %s", changing)
    changing[0] = "after"
    writer.stop()
    assert stream.getvalue() == "value ['before']\n"
