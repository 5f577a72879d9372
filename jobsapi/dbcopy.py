"""`flask db copy`: the app's database copied whole into an empty one (SQLite or PostgreSQL)."""

import os

import click
import peewee as pw

from . import database, dialect, postgres
from .models import JobCount

BATCH = 1000  # rows per insert
MAX_PARAMETERS = 32766  # SQLite's limit on one statement's parameters (PostgreSQL's is higher)


class CopyFailed(click.ClickException):
    """The copy could not be made or does not match its source (exit status 1)."""


def describe(name):
    """A database's name for messages: a URL without its password, a path made absolute."""
    if postgres.is_url(name):
        return postgres.redact(name)
    return os.path.abspath(name)


def open_target(target):
    """The peewee database TARGET names (a PostgreSQL server that answers, or a file path);
    CopyFailed (one line) when it is neither."""
    if "://" in target and not postgres.is_url(target):
        raise CopyFailed(f"target: neither a postgresql:// URL nor a file path: "
                         f"{postgres.redact(target)}")
    if target == ":memory:":
        raise CopyFailed("target: an in-memory database would be gone when the copy ends")
    if not postgres.is_url(target):
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    try:
        # One connection is all a copy uses.
        db = database.open_database({"JOBSAPI_DATABASE": target, "JOBSAPI_DATABASE_POOL": 1})
    except SystemExit as exc:  # the reasons postgres gives, said of the target
        raise CopyFailed(str(exc).replace("JOBSAPI_DATABASE", "target", 1)) from None
    return db


def filled_tables(db):
    """The tables of `db` holding at least one row (the schema's version aside)."""
    names = [name for name in db.get_tables()
             if name != "schema_version" and not name.startswith("sqlite_")]
    return [name for name in names if pw.Table(name).select(pw.SQL("1")).exists(db)]


def row_counts(db):
    """Rows per table of the service, in `db`."""
    return {model._meta.table_name: model.select().count(db) for model in database.MODELS}


def job_counts(db):
    """The job_counts table of `db`, sorted."""
    return sorted(JobCount.select().tuples().bind(db))


def batches(model, db, size):
    """The rows of `model` in `db` as dicts of Python values (read through its fields), in
    lists of at most `size`, in primary-key order (each list seeks past the last)."""
    keys = model._meta.get_primary_keys()
    key = pw.Tuple(*keys) if len(keys) > 1 else keys[0]
    last = None
    while True:
        query = model.select().order_by(*keys).limit(size)
        if last is not None:
            query = query.where(key > (pw.Tuple(*last) if len(keys) > 1 else last[0]))
        rows = list(query.dicts().bind(db))
        if not rows:
            return
        yield rows
        last = [rows[-1][field.name] for field in keys]


def snapshot(db):
    """One read transaction on the source: every table read as of the same moment."""
    if isinstance(db, pw.PostgresqlDatabase):
        return db.atomic(isolation_level="REPEATABLE READ")
    return db.atomic()  # SQLite in WAL: a reader's snapshot lasts its transaction


def progress(model, counts):
    """A progress bar on stderr for copying `model`'s rows (stdout keeps the summary)."""
    name = model._meta.table_name
    return click.progressbar(length=counts[name], label=name.ljust(16),
                             file=click.get_text_stream("stderr"))


def copy_table(model, source, target, counts):
    """Copy one table in batches, read and written through the model's fields (JSON and
    times converted as each database holds them)."""
    size = min(BATCH, MAX_PARAMETERS // len(model._meta.sorted_fields))
    with progress(model, counts) as bar:
        for rows in batches(model, source, size):
            model.insert_many(rows).as_rowcount().execute(target)
            bar.update(len(rows))


def copy_rows(source, target, counts):
    """Copy every table, parents first (database.MODELS' order). The triggers on jobs
    count the copied jobs into job_counts: that table is then replaced by the source's."""
    for model in database.MODELS:
        if model is not JobCount:
            copy_table(model, source, target, counts)
    JobCount.delete().execute(target)
    copy_table(JobCount, source, target, counts)


def advance_sequences(target):
    """On PostgreSQL, move each identity column's sequence past the copied ids, so rows
    made from now on get new ones (SQLite takes the largest id + 1 by itself)."""
    if not isinstance(target, pw.PostgresqlDatabase):
        return
    for model in database.MODELS:
        key = model._meta.primary_key
        if isinstance(key, pw.AutoField):
            sequence = pw.fn.pg_get_serial_sequence(model._meta.table_name, key.column_name)
            model.select(pw.fn.setval(sequence, pw.fn.COALESCE(pw.fn.MAX(key), 0) + 1,
                                      False)).scalar(target)


def differences(expected, found):
    """The tables whose row counts differ, as 'table: N in the source, M in the target'."""
    return [f"{table}: {expected[table]} in the source, {found.get(table)} in the target"
            for table in expected if expected[table] != found.get(table)]


def copy(source, source_name, target_name):
    """Copy `source` (the app's database) into the empty database `target_name` and check
    that every table holds as many rows there; CopyFailed when anything is amiss."""
    target = open_target(target_name)
    where = describe(target_name)
    try:
        with target.connection_context():
            filled = filled_tables(target)
            if filled:
                raise CopyFailed(f"target {where} is not empty ({', '.join(filled)} hold rows):"
                                 " copy into an empty database")
            database.apply_schema(target)
        click.echo(f"Copying {describe(source_name)} to {where}", err=True)
        with source.connection_context(), snapshot(source), target.connection_context():
            counts = row_counts(source)
            expected_job_counts = job_counts(source)
            with dialect.write_transaction(target):  # checked before it commits: a copy
                copy_rows(source, target, counts)      # that does not match leaves nothing
                advance_sequences(target)
                wrong = differences(counts, row_counts(target))
                if not wrong and job_counts(target) != expected_job_counts:
                    wrong = ["job_counts: its rows differ from the source's"]
                if wrong:
                    raise CopyFailed("the copy does not match its source: " + "; ".join(wrong))
            dialect.of(target).analyze(target)
    except (pw.DatabaseError, RuntimeError) as exc:  # RuntimeError: a newer schema there
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CopyFailed(f"copy to {where} failed: {reason}") from None
    finally:
        target.close_all()
    for table, rows in counts.items():
        click.echo(f"{table}\t{rows}")
    click.echo(f"Copied {sum(counts.values())} rows; "
               f"the row counts of all {len(counts)} tables match.")
