"""The worker's side of the protocol: what a handler's result or exception reports, and
the HTTP client that reports it, backing off while the server is unavailable. Standard
library only, like the worker; handlers import Result, Retry and Permanent from the
worker, which takes them from here."""

import http.client
import json
import logging
import math
import random
import threading
import urllib.error
import urllib.request
from typing import NamedTuple, Optional

log = logging.getLogger("jobsapi.worker")

HTTP_TIMEOUT = 30
BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0
MAX_MESSAGE = 10000  # characters of an error message the server takes
MAX_RETRY_AFTER = 86400


class Result(NamedTuple):
    """A handler's return value when it reports metrics along with its response."""

    response_data: Optional[dict] = None
    processing_metrics: Optional[dict] = None


class Retry(Exception):
    """Raised by a handler: this attempt failed; try again (not before `after` seconds).

    `rate_limited`: the provider said to wait (its 429 and Retry-After): the attempt does
    not count; with `pause_model`, the server holds back the job's whole model until
    then, for every worker."""

    def __init__(self, message, after=None, details=None, rate_limited=False,
                 pause_model=False):
        super().__init__(message)
        self.after, self.details = after, details
        self.rate_limited, self.pause_model = rate_limited, pause_model


class Permanent(Exception):
    """Raised by a handler: the job cannot succeed; fail it without retrying."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details


def failure(error, retryable, after=None, details=None):
    """The body of a fail: the error's type is its class's name, or its cause's."""
    body = {"error": {"type": type(error.__cause__ or error).__name__,
                      "message": (str(error) or type(error).__name__)[:MAX_MESSAGE],
                      "retryable": retryable}}
    if details is not None:
        body["error"]["details"] = details
    if after is not None:
        body["retryAfterSeconds"] = min(max(math.ceil(after), 0), MAX_RETRY_AFTER)
    return body


def outcome(handler, job):
    """Run `handler` on `job`: the route to report to ("complete" or "fail") and its body."""
    try:
        result = handler(job)
        result = result if isinstance(result, Result) else Result(result)
        if not all(part is None or isinstance(part, dict) for part in result):
            raise TypeError(f"the handler returned {result!r}: use a dict, None or a Result")
    except Retry as error:
        body = failure(error, True, error.after, error.details)
        if error.rate_limited:
            body["rateLimited"] = True
            body["pauseModel"] = bool(error.pause_model)
        return "fail", body
    except Permanent as error:
        return "fail", failure(error, False, details=error.details)
    except Exception as error:
        log.exception("job %s: the handler raised", job["jobId"])
        return "fail", failure(error, True)
    parts = zip(("responseData", "processingMetrics"), result)
    return "complete", {key: value for key, value in parts if value is not None}


class Unavailable(Exception):
    """The server is unreachable or answered 5xx or 429 (`retry_after`: what it asked)."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """The server refused a request (4xx): `status` and its message."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _retry_after(headers):
    value = headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def _error_message(error):
    try:
        return json.load(error)["message"]
    except (OSError, ValueError, KeyError, TypeError):
        return error.reason


class Client:
    """JSON over HTTP to the jobs API with an API key; logs when the server goes and comes."""

    def __init__(self, url, api_key):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                         "Content-Type": "application/json", "User-Agent": "jobsapi-worker"}
        self._lock = threading.Lock()
        self._down = False

    def post(self, path, body, timeout=HTTP_TIMEOUT):
        """POST `body` as JSON; return the answer and its Retry-After (None if absent)."""
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = (json.load(response), _retry_after(response.headers))
        except urllib.error.HTTPError as error:
            message = _error_message(error)
            error.close()
            if error.code >= 500 or error.code == 429:
                self._went_down(f"HTTP {error.code}: {message}")
                raise Unavailable(message, _retry_after(error.headers)) from None
            self._came_back()
            raise Refused(error.code, message) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._went_down(str(error) or type(error).__name__)
            raise Unavailable(str(error)) from None
        self._came_back()
        return answer

    def _went_down(self, reason):
        with self._lock:
            if not self._down:
                log.warning("server unavailable (%s): backing off", reason)
            self._down = True

    def _came_back(self):
        with self._lock:
            if self._down:
                log.info("server available again")
            self._down = False


class Backoff:
    """Exponential delays with jitter, capped; the server's Retry-After wins."""

    def __init__(self):
        self.failures = 0

    def delay(self, retry_after=None):
        self.failures += 1
        if retry_after is not None:
            return retry_after
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(self.failures - 1, 16))
        return ceiling / 2 + random.uniform(0, ceiling / 2)
