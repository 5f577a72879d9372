"""The state table: allowed and forbidden moves over HTTP, admin-only moves, and can_move."""

import pytest

from conftest import assert_error
from jobsapi.states import can_move

ORDER = ("PENDING", "PROCESSING", "PROCESSED", "CONSUMED", "ERROR_PROCESSING",
         "ERROR_CONSUMING", "CANCELED")

# Rows: current status; columns: target status in ORDER; 1 = allowed (same status = no move).
CLIENT_TABLE = """
PENDING            1 1 0 0 0 0 1
PROCESSING         1 1 1 0 1 0 0
PROCESSED          0 0 1 1 0 1 1
CONSUMED           0 0 0 1 0 0 0
ERROR_PROCESSING   1 0 0 0 1 0 0
ERROR_CONSUMING    0 0 1 0 0 1 0
CANCELED           0 0 0 0 0 0 1
"""
ADMIN_TABLE = """
PENDING            1 1 0 0 1 1 1
PROCESSING         1 1 1 0 1 1 0
PROCESSED          0 0 1 1 1 1 1
CONSUMED           0 0 0 1 1 1 0
ERROR_PROCESSING   1 0 0 0 1 1 0
ERROR_CONSUMING    0 0 1 0 1 1 0
CANCELED           1 0 0 0 1 1 1
"""

# How a client walks a fresh job to each status, using allowed moves only.
PATHS = {
    "PENDING": [],
    "PROCESSING": ["PROCESSING"],
    "PROCESSED": ["PROCESSING", "PROCESSED"],
    "CONSUMED": ["PROCESSING", "PROCESSED", "CONSUMED"],
    "ERROR_PROCESSING": ["PROCESSING", "ERROR_PROCESSING"],
    "ERROR_CONSUMING": ["PROCESSING", "PROCESSED", "ERROR_CONSUMING"],
    "CANCELED": ["CANCELED"],
}
CLIENT_MOVES = [
    ("PENDING", "PROCESSING"), ("PENDING", "CANCELED"),
    ("PROCESSING", "PROCESSED"), ("PROCESSING", "ERROR_PROCESSING"), ("PROCESSING", "PENDING"),
    ("PROCESSED", "CONSUMED"), ("PROCESSED", "ERROR_CONSUMING"), ("PROCESSED", "CANCELED"),
    ("ERROR_PROCESSING", "PENDING"), ("ERROR_CONSUMING", "PROCESSED"),
]
FORBIDDEN_FOR_EVERYONE = [
    ("PENDING", "CONSUMED"), ("PENDING", "PROCESSED"), ("CONSUMED", "PENDING"),
    ("PROCESSED", "PENDING"), ("CONSUMED", "PROCESSED"), ("ERROR_PROCESSING", "PROCESSING"),
    ("ERROR_CONSUMING", "CONSUMED"), ("CANCELED", "PROCESSING"), ("PROCESSING", "CANCELED"),
]
ADMIN_ONLY_MOVES = [("CANCELED", "PENDING")] + [
    (current, target)
    for target in ("ERROR_PROCESSING", "ERROR_CONSUMING")
    for current in ORDER
    if current != target and (current, target) not in CLIENT_MOVES
]


def parse_table(text):
    rows = [line.split() for line in text.strip().splitlines()]
    return {(row[0], target): flag == "1" for row in rows for target, flag in zip(ORDER, row[1:])}


def job_in(api, status):
    """A new job of `api`'s user, walked to `status` by allowed client moves."""
    response = api.post("/jobs", json={"operation": "o", "prompts": ["p"], "model": "m",
                                       "requestData": {}})
    assert response.status_code == 201, response.text
    job_id = response.json()["jobId"]
    for step in PATHS[status]:
        assert move(api, job_id, step).json()["status"] == step
    return job_id


def move(api, job_id, target):
    return api.patch(f"/jobs/{job_id}", json={"status": target})


def status_of(api, job_id):
    response = api.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["status"]


def assert_rejected(response):
    body = assert_error(response, 409)
    assert "status" in body.get("errors", {}), body


@pytest.mark.parametrize("admin,table", [(False, CLIENT_TABLE), (True, ADMIN_TABLE)],
                         ids=["client", "admin"])
def test_can_move_matches_the_table(admin, table):
    expected = parse_table(table)
    assert len(expected) == 49
    wrong = {cell for cell, allowed in expected.items() if can_move(*cell, admin=admin) != allowed}
    assert wrong == set()


@pytest.mark.parametrize("current,target", CLIENT_MOVES)
def test_client_makes_every_allowed_move(make_user, current, target):
    alice = make_user()
    job_id = job_in(alice, current)
    response = move(alice, job_id, target)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == target
    assert status_of(alice, job_id) == target


@pytest.mark.parametrize("current,target", FORBIDDEN_FOR_EVERYONE + ADMIN_ONLY_MOVES)
def test_client_cannot_make_other_moves(make_user, current, target):
    alice = make_user()
    job_id = job_in(alice, current)
    assert_rejected(move(alice, job_id, target))
    assert status_of(alice, job_id) == current


@pytest.mark.parametrize("current,target", ADMIN_ONLY_MOVES)
def test_admin_makes_admin_only_moves(make_user, admin, current, target):
    alice = make_user()
    job_id = job_in(alice, current)
    response = move(admin, job_id, target)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == target
    assert status_of(alice, job_id) == target


@pytest.mark.parametrize("current,target", FORBIDDEN_FOR_EVERYONE)
def test_admin_follows_the_rest_of_the_table(make_user, admin, current, target):
    alice = make_user()
    job_id = job_in(alice, current)
    assert_rejected(move(admin, job_id, target))
    assert status_of(alice, job_id) == current


@pytest.mark.parametrize("status", ORDER)
def test_same_status_is_no_change(make_user, status):
    alice = make_user()
    job_id = job_in(alice, status)
    response = move(alice, job_id, status)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    assert status_of(alice, job_id) == status


def test_rejected_move_in_a_combined_patch_changes_nothing(make_user):
    alice = make_user()
    job_id = job_in(alice, "CONSUMED")
    before = alice.get(f"/jobs/{job_id}").json()
    assert_rejected(alice.patch(f"/jobs/{job_id}", json={"status": "PENDING", "priority": 1}))
    assert alice.get(f"/jobs/{job_id}").json() == before
