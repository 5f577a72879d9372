"""GET /jobs and /jobs/summary over the live server: order, filters, bad values, pagination."""

import re

import pytest

from conftest import assert_error

pytestmark = pytest.mark.both_backends

STATUSES = ("PENDING", "PROCESSING", "PROCESSED", "CONSUMED", "ERROR_PROCESSING",
            "ERROR_CONSUMING", "CANCELED")
LINK = re.compile(r'<([^>]+)>; rel="next"')


def new_job(api, status_path=(), **overrides):
    body = {"operation": "summarize", "prompts": ["p"], "model": "gpt-test",
            "requestData": {}, **overrides}
    response = api.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobId"]
    for status in status_path:
        assert api.patch(f"/jobs/{job_id}", json={"status": status}).status_code == 200
    return job_id


def listed(api, params=None):
    response = api.get("/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job["jobId"] for job in response.json()]


def summary(api, params=None):
    response = api.get("/jobs/summary", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def counts(**nonzero):
    return {**dict.fromkeys(STATUSES, 0), **nonzero, "total": sum(nonzero.values())}


def test_list_is_newest_first(make_user):
    alice = make_user()
    created = [new_job(alice, operation=f"op-{n}") for n in range(4)]
    response = alice.get("/jobs")
    assert response.status_code == 200 and "Link" not in response.headers
    assert [job["jobId"] for job in response.json()] == created[::-1]
    assert [job["operation"] for job in response.json()] == ["op-3", "op-2", "op-1", "op-0"]


@pytest.fixture
def statuses(make_user):
    """A fresh client with one job in PENDING, PROCESSING, PROCESSED and CANCELED."""
    alice = make_user()
    jobs = {
        "PENDING": new_job(alice),
        "PROCESSING": new_job(alice, ["PROCESSING"]),
        "PROCESSED": new_job(alice, ["PROCESSING", "PROCESSED"]),
        "CANCELED": new_job(alice, ["CANCELED"]),
    }
    return alice, jobs


def test_status_filter_is_repeatable(statuses):
    alice, jobs = statuses
    assert listed(alice, {"status": "PROCESSED"}) == [jobs["PROCESSED"]]
    assert listed(alice, [("status", "PENDING"), ("status", "CANCELED")]) == [
        jobs["CANCELED"], jobs["PENDING"]]
    assert listed(alice, {"status": "CONSUMED"}) == []
    assert summary(alice, [("status", "PENDING"), ("status", "PROCESSING")]) == counts(
        PENDING=1, PROCESSING=1)
    assert summary(alice) == counts(PENDING=1, PROCESSING=1, PROCESSED=1, CANCELED=1)


def test_operation_and_model_filters(make_user):
    alice = make_user()
    a = new_job(alice, operation="translate", model="m1")
    b = new_job(alice, operation="translate", model="m2")
    c = new_job(alice, operation="summarize", model="m1")
    assert listed(alice, {"operation": "translate"}) == [b, a]
    assert listed(alice, {"model": "m1"}) == [c, a]
    assert listed(alice, {"operation": "translate", "model": "m1"}) == [a]
    assert listed(alice, {"operation": "translat"}) == []
    assert summary(alice, {"model": "m1"}) == counts(PENDING=2)
    assert summary(alice, {"operation": "translate", "model": "m2"}) == counts(PENDING=1)


def test_priority_filter(make_user):
    alice = make_user()
    a = new_job(alice, priority=10)
    b = new_job(alice, ["CANCELED"], priority=10)
    c = new_job(alice)
    assert listed(alice, {"priority": "10"}) == [b, a]
    assert listed(alice, {"priority": "500"}) == [c]
    assert listed(alice, {"priority": "10", "status": "PENDING"}) == [a]
    assert summary(alice, {"priority": "10"}) == counts(PENDING=1, CANCELED=1)


def test_client_reference_filters_compare_as_text(make_user):
    alice = make_user()
    number = new_job(alice, clientReference={"n": 3, "batch": "a"})
    text = new_job(alice, clientReference={"n": "3", "batch": "b"})
    other = new_job(alice, clientReference={"n": 4, "batch": "a", "flag": True})
    new_job(alice, clientReference={"batch": "a"})
    new_job(alice, clientReference=None)
    assert listed(alice, {"clientReference.n": "3"}) == [text, number]
    assert listed(alice, {"clientReference.n": "4"}) == [other]
    assert listed(alice, {"clientReference.flag": "true"}) == [other]
    assert listed(alice, {"clientReference.n": "3", "clientReference.batch": "a"}) == [number]
    assert listed(alice, {"clientReference.missing": "3"}) == []
    assert summary(alice, {"clientReference.batch": "a"}) == counts(PENDING=3)


def test_filters_combine(make_user):
    alice = make_user()
    match = new_job(alice, ["PROCESSING"], operation="ocr", clientReference={"run": "7"})
    new_job(alice, operation="ocr", clientReference={"run": "7"})  # wrong status
    new_job(alice, ["PROCESSING"], operation="asr", clientReference={"run": "7"})  # operation
    new_job(alice, ["PROCESSING"], operation="ocr", clientReference={"run": "8"})  # reference
    params = {"status": "PROCESSING", "operation": "ocr", "clientReference.run": "7"}
    assert listed(alice, params) == [match]
    assert summary(alice, params) == counts(PROCESSING=1)
    assert summary(alice, {"operation": "ocr", "clientReference.run": "7"}) == counts(
        PENDING=1, PROCESSING=1)


@pytest.mark.parametrize("route", ["/jobs", "/jobs/summary"])
@pytest.mark.parametrize("name,value", [("status", "NOPE"), ("status", "pending"),
                                        ("priority", "abc"), ("priority", "0"),
                                        ("priority", "1001")])
def test_bad_filter_values_are_400(make_user, route, name, value):
    body = assert_error(make_user().get(route, params={name: value}), 400)
    assert name in body.get("errors", {}), body


@pytest.mark.parametrize("name,value", [("limit", "0"), ("limit", "501"), ("limit", "abc"),
                                        ("limit", "1.5"), ("after", "bad"),
                                        ("after", "0123456789ABCDEF01234567")])
def test_bad_page_values_are_400(make_user, name, value):
    body = assert_error(make_user().get("/jobs", params={name: value}), 400)
    assert name in body.get("errors", {}), body


def walk(api, params):
    """Follow rel="next" links from the first page; return the pages' job ids."""
    response = api.get("/jobs", params=params)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        pages.append([job["jobId"] for job in response.json()])
        if "Link" not in response.headers:
            return pages
        link = LINK.fullmatch(response.headers["Link"])
        assert link, response.headers["Link"]
        assert len(pages) < 10, "pagination does not end"
        response = api.session.get(link.group(1), timeout=30)


def test_pagination_walks_every_page_once(make_user):
    alice = make_user()
    created = [new_job(alice) for _ in range(5)]
    pages = walk(alice, {"limit": 2})
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [job_id for page in pages for job_id in page] == created[::-1]


def test_pagination_ends_exactly_on_a_full_page(make_user):
    alice = make_user()
    created = [new_job(alice) for _ in range(4)]
    assert walk(alice, {"limit": 2}) == [created[:1:-1], created[1::-1]]


def test_pagination_keeps_the_filters(make_user):
    alice = make_user()
    pending = []
    for n in range(7):
        if n % 3 == 1:
            new_job(alice, ["CANCELED"])
        else:
            pending.append(new_job(alice))
    pages = walk(alice, [("status", "PENDING"), ("limit", "2")])
    assert [job_id for page in pages for job_id in page] == pending[::-1]
    assert [len(page) for page in pages] == [2, 2, 1]


def test_default_and_maximum_limits(make_user):
    alice = make_user()
    body = {"operation": "o", "prompts": ["p"], "model": "m", "requestData": {}}
    response = alice.post("/jobs/batch", json={"jobs": [body] * 51})
    assert response.status_code == 201, response.text
    first = alice.get("/jobs")
    assert len(first.json()) == 50 and LINK.fullmatch(first.headers["Link"])
    everything = alice.get("/jobs", params={"limit": 500})
    assert len(everything.json()) == 51 and "Link" not in everything.headers
    assert walk(alice, {})[1] == [job["jobId"] for job in everything.json()][50:]
