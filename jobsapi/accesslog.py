"""One access-log line per request, in the Apache combined log format; its fields (and
the route, user and request id the app leaves in the WSGI environ) ride along for the
JSON log format."""

import logging
import time

log = logging.getLogger("jobsapi.access")
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"  # [10/Oct/2000:13:55:36 -0700], in local time


class AccessLog:
    """WSGI middleware: logs method, path, status, size, referrer, agent and duration."""

    def __init__(self, app):
        self.app = app

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
                elapsed = time.perf_counter() - started
                log.info(line(environ, *response, elapsed, time.time()),
                         extra=fields(environ, response[0], elapsed))


# What a client sends is written as Apache writes it: quotes, backslashes and anything
# but printable ASCII as \xhh, so no request can break a line or forge another.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x22, 0x5c, *range(0x7f, 0x100))}


def _clean(text):
    return text.translate(_ESCAPED).encode("ascii", "backslashreplace").decode("ascii")


def line(environ, status, headers, elapsed, ended):
    """The combined-format line of one request, its duration appended."""
    get = environ.get
    path = get("PATH_INFO", "")
    if get("QUERY_STRING"):
        path = f"{path}?{environ['QUERY_STRING']}"
    length = next((value for name, value in headers if name.lower() == "content-length"), "-")
    when = time.strftime(TIME_FORMAT, time.localtime(ended))
    request = " ".join(_clean(part) for part in (
        get("REQUEST_METHOD", "-"), path, get("SERVER_PROTOCOL", "-")))
    return (
        f'{get("REMOTE_ADDR", "-")} - - [{when}] "{request}" {status.split(" ", 1)[0]} '
        f'{length} "{_clean(get("HTTP_REFERER", "-"))}" "{_clean(get("HTTP_USER_AGENT", "-"))}" '
        f'{elapsed * 1000:.1f}ms'
    )


def fields(environ, status, elapsed):
    """The request's fields for a structured log line (never its query string or body)."""
    code = status.split(" ", 1)[0]
    return {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO", ""),
        "route": environ.get("jobsapi.route"),
        "status": int(code) if code.isdigit() else None,
        "duration_ms": round(elapsed * 1000, 1),
        "user_id": environ.get("jobsapi.user_id"),
        "request_id": environ.get("jobsapi.request_id"),
    }
