"""Error handlers say what happened: busy is 503, any other fault 500 (logged with its
traceback), a number too large in the request 400; all in the one error shape."""

import logging

import peewee as pw
import pytest

from conftest import ADMIN_PASSWORD
from jobsapi import workjobs

JOB = {"operation": "summarize", "prompts": ["hi"], "model": "m", "requestData": {}}


@pytest.fixture
def admin(client):
    response = client.post("/api/auth/login",
                           json={"username": "admin", "password": ADMIN_PASSWORD})
    return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}


def _failing(monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(workjobs, "list_jobs", fail)


def _shape(response, code):
    body = response.get_json()
    assert response.status_code == code and body["code"] == code, body
    assert set(body) <= {"code", "status", "message", "errors"}
    return body


@pytest.mark.parametrize("message", ["database is locked", "database table is locked"])
def test_a_busy_database_is_503_with_retry_after(client, admin, monkeypatch, message):
    _failing(monkeypatch, pw.OperationalError(message))
    response = client.get("/jobs", headers=admin)
    assert "busy" in _shape(response, 503)["message"]
    assert response.headers["Retry-After"] == "1"


def test_another_database_error_is_500_logged_with_its_traceback(client, admin, monkeypatch,
                                                                 caplog):
    _failing(monkeypatch, pw.OperationalError("no such column: colour"))
    with caplog.at_level(logging.ERROR, logger="jobsapi.rest"):
        response = client.get("/jobs", headers=admin)
    body = _shape(response, 500)
    assert "colour" not in body["message"]  # no internals in a body
    [record] = [r for r in caplog.records if r.name == "jobsapi.rest"]
    assert record.exc_info and "no such column: colour" in str(record.exc_info[1])


def test_an_overflow_outside_parsing_is_a_fault_not_bad_input(client, admin, monkeypatch):
    _failing(monkeypatch, OverflowError("int too large"))
    _shape(client.get("/jobs", headers=admin), 500)


def test_a_number_too_large_in_the_body_is_400(client, admin):
    body = '{"operation": "s", "prompts": ["p"], "model": "m", "requestData": {"x": 1e400}}'
    response = client.post("/jobs", data=body, headers={**admin, "Content-Type": "application/json"})
    assert _shape(response, 400)["message"] == "A number in the request is too large."
