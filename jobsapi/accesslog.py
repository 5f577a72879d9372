"""One access-log line per request, in the Apache combined log format."""

import functools
import logging
import time

from .logwriter import local_time, record

log = logging.getLogger("jobsapi.access")
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"  # [10/Oct/2000:13:55:36 -0700], in local time


class AccessLog:
    """WSGI middleware: logs method, path, status, size, referrer, agent and duration.

    With `defer` (LogWriter.defer, as the server runs it) a request only collects the
    line's fields; the log writer makes the line and its record a batch at a time, and
    writes it past the logger's own handlers. Without it, it logs through the logger."""

    def __init__(self, app, defer=None):
        self.app = app
        self.defer = defer

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        response = ["-", ()]  # status line and headers, once the app has started them

        def recording_start_response(status, headers, exc_info=None):
            response[0], response[1] = status, headers
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            if log.isEnabledFor(logging.INFO):
                get = environ.get
                fields = (
                    get("REMOTE_ADDR", "-"), get("REQUEST_METHOD", "-"), get("PATH_INFO", ""),
                    get("QUERY_STRING", ""), get("SERVER_PROTOCOL", "-"), *response,
                    get("HTTP_REFERER", "-"), get("HTTP_USER_AGENT", "-"),
                    time.perf_counter() - started, time.time(),
                )
                if self.defer is None:
                    log.info(line(*fields))
                else:
                    self.defer(functools.partial(_record, fields))


def _record(fields):
    return record(log, logging.INFO, line(*fields), fields[-1])


def line(address, method, path, query, protocol, status, headers, referrer, agent, elapsed,
         ended):
    """The combined-format line of one request, its duration appended."""
    if query:
        path = f"{path}?{query}"
    length = "-"
    for name, value in headers:
        if name.lower() == "content-length":
            length = value
            break
    return (
        f'{address} - - [{local_time(TIME_FORMAT, int(ended))}] "{method} {path} {protocol}" '
        f'{status.split(" ", 1)[0]} {length} "{referrer}" "{agent}" {elapsed * 1000:.1f}ms'
    )
