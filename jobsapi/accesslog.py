"""One access-log line per request, in the Apache combined log format."""

import logging
import time

log = logging.getLogger("jobsapi.access")


class AccessLog:
    """WSGI middleware: logs method, path, status, size, referrer, agent and duration."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["length"] = next(
                (value for name, value in headers if name.lower() == "content-length"), "-"
            )
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            if log.isEnabledFor(logging.INFO):
                self._log(environ, seen, time.perf_counter() - started)

    @staticmethod
    def _log(environ, seen, elapsed):
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        log.info(
            '%s - - [%s] "%s %s %s" %s %s "%s" "%s" %.1fms',
            environ.get("REMOTE_ADDR", "-"),
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            environ.get("REQUEST_METHOD", "-"),
            path,
            environ.get("SERVER_PROTOCOL", "-"),
            seen.get("status", "-"),
            seen.get("length", "-"),
            environ.get("HTTP_REFERER", "-"),
            environ.get("HTTP_USER_AGENT", "-"),
            elapsed * 1000,
        )
