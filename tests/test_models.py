"""Rows read packed (Model.find, Model.select_rows) come out as peewee reads them."""

import datetime as dt

from jobsapi.database import db
from jobsapi.models import Job, User

AWKWARD = {
    "float": 1.0000000000000002,
    "big": 2**70,
    "negative": -0.0,
    "text": 'é \u2028 " \\ \n \x01 \U0001f600',
    "nested": [[{"none": None, "true": True}], []],
}


def _rows(app):
    """A user and two jobs holding values that are awkward to read back."""
    with db.connection_context():
        user = User.create(username="ü-user", password_hash="h", role="client",
                           permissions=["jobs:read"], disabled=True,
                           created_at=dt.datetime(2026, 1, 2, 3, 4, 5))
        common = dict(client=user.id, operation="summarize", model="m",
                      created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000),
                      updated_at=dt.datetime(2026, 1, 2, 3, 4, 5))
        Job.create(id="a" * 24, prompts=["p", AWKWARD["text"]], temperature=0.30000000000000004,
                   request_data=AWKWARD, client_reference={"ref": 7}, response_data=[1, "two"],
                   processing_metrics=AWKWARD, deleted_at=dt.datetime(2026, 5, 6), **common)
        Job.create(id="b" * 24, prompts=[], temperature=None, request_data={},
                   client_reference=None, error_data={"message": "x"}, **common)


def test_find_reads_what_peewee_reads(app):
    _rows(app)
    with db.connection_context():
        for model, where, params in ((User, "id > ?", [0]), (Job, "id > ?", [""])):
            expected = [row.__data__ for row in model.select().order_by(model._meta.primary_key)]
            found = sorted(model.find(where, *params), key=lambda row: row._pk)
            assert [row.__data__ for row in found] == expected
            assert len(expected) == 2, model


def test_select_rows_reads_what_peewee_reads(app):
    _rows(app)
    with db.connection_context():
        query = Job.select().where(Job.deleted_at.is_null(False)).order_by(Job.id)
        expected = [row.__data__ for row in query]
        assert [row.__data__ for row in Job.select_rows(query)] == expected
        job = expected[0]
        assert job["temperature"] == 0.30000000000000004
        assert job["request_data"] == AWKWARD and job["prompts"][1] == AWKWARD["text"]
        assert job["deleted_at"] == dt.datetime(2026, 5, 6)
        assert next(User.find("disabled = 1")).disabled is True
