"""Rows read packed (Model.find, Model.select_rows) come out as peewee reads them."""

import datetime as dt

from jobsapi.database import db
from jobsapi.models import Job, User


def test_find_reads_what_peewee_reads(awkward_rows):
    with db.connection_context():
        for model, where, params in ((User, "id > ?", [0]), (Job, "id > ?", [""])):
            expected = [row.__data__ for row in model.select().order_by(model._meta.primary_key)]
            found = sorted(model.find(where, *params), key=lambda row: row._pk)
            assert [row.__data__ for row in found] == expected
            assert len(expected) == 2, model


def test_select_rows_reads_what_peewee_reads(awkward_rows):
    with db.connection_context():
        query = Job.select().where(Job.deleted_at.is_null(False)).order_by(Job.id)
        expected = [row.__data__ for row in query]
        assert [row.__data__ for row in Job.select_rows(query)] == expected
        job = expected[0]
        assert job["temperature"] == 0.30000000000000004
        assert job["request_data"] == awkward_rows and job["prompts"][1] == awkward_rows["text"]
        assert job["deleted_at"] == dt.datetime(2026, 5, 6)
        assert next(User.find("disabled = 1")).disabled is True
