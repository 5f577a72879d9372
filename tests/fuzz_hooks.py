"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by tests/fuzz.py)."""

import http
import json
import os
import uuid

import schemathesis

ERROR_KEYS = {"code", "status", "message", "errors"}
# The id and role of the user whose token the run sends (set by tests/fuzz.py).
OWN_USER_ID = os.environ.get("FUZZ_USER_ID")
OWN_ROLE = os.environ.get("FUZZ_ROLE")


@schemathesis.hook.apply_to(method="PATCH", path="/api/users/{user_id}")
def filter_case(ctx, case):
    """Leave out only the cases that would disable or demote the run's own account: after
    one of them every later request of the run would get 401 or 403 and test nothing."""
    if str((case.path_parameters or {}).get("user_id")) != OWN_USER_ID:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    return body.get("disabled") is not True and body.get("role", OWN_ROLE) == OWN_ROLE


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx body is the one error shape: code, status, message, errors?."""
    if response.status_code < 400 or response.request.method == "HEAD":
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from None
    if not isinstance(body, dict):
        raise AssertionError(f"{response.status_code} body is not a JSON object: {body!r}")
    problems = []
    if set(body) - ERROR_KEYS:
        problems.append(f"unexpected keys {sorted(set(body) - ERROR_KEYS)}")
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int) or code != response.status_code:
        problems.append(f"code is {code!r}, not {response.status_code}")
    try:
        phrase = http.HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = None
    if phrase is None or body.get("status") != phrase:
        problems.append(f"status is {body.get('status')!r}, not {phrase!r}")
    if not isinstance(body.get("message"), str) or not body.get("message"):
        problems.append(f"message is {body.get('message')!r}, not a non-empty string")
    if "errors" in body and not isinstance(body["errors"], dict):
        problems.append(f"errors is {body['errors']!r}, not an object")
    if problems:
        raise AssertionError(
            f"{response.status_code} body is not in the one error shape: "
            + "; ".join(problems) + f"\nBody: {body!r}"
        )
    return None


@schemathesis.hook.apply_to(method="POST", path="/jobs/claim")
def map_body(ctx, body):
    """A valid waitSeconds (up to 25) makes a claim with nothing due wait that long: keep
    the waits short so the run spends its time on other cases (values out of range,
    which are 400 at once, are sent as drawn)."""
    wait = body.get("waitSeconds") if isinstance(body, dict) else None
    if isinstance(wait, int) and not isinstance(wait, bool) and 1 < wait <= 25:
        body["waitSeconds"] = 1
    return body


@schemathesis.hook.apply_to(method="POST", path_regex=r"^/jobs(/batch)?$")
def map_headers(ctx, headers):
    """A fresh Idempotency-Key per request when one is drawn: a drawn key repeats
    across cases, and its replayed answer names jobs a later case may have deleted, which
    the stateful phase would read as a created job gone missing. Replays are tested in
    tests/test_work.py."""
    if headers and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers
