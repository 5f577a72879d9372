"""Data on the benchmark's PostgreSQL: the batch floor with psycopg, a client's job ids, and
databases of many jobs (bench/bigdb.py's rows, written with COPY)."""

import datetime as dt
import random

from . import batches, bigdb, common

OPTIONS = "-c TimeZone=UTC"  # as the service's sessions: naive times are UTC


def connect(url):
    import psycopg

    return psycopg.connect(url, options=OPTIONS)


def apply_schema(url):
    """The service's schema on the database at `url`, applied as the service applies it."""
    from jobsapi import database, postgres

    db = postgres.open_database(url, 1)
    with db.connection_context():
        database.apply_schema(db)
    db.close_all()


class Floor(batches.Floor):
    """The batch floor on PostgreSQL: the same rows with psycopg executemany (pipelined) in
    one transaction, plus the same JSON work."""

    def __init__(self, url):
        apply_schema(url)
        self.connection = connect(url)
        with self.connection.transaction():
            self.client_id = self.connection.execute(
                "INSERT INTO users (username, password_hash, role, created_at) "
                "VALUES ('floor', 'x', 'client', %s) RETURNING id",
                (batches._utcnow(),)).fetchone()[0]
        self.new_id = batches.FloorIds()

    def _write(self, sql, rows):
        with self.connection.transaction():
            self.connection.cursor().executemany(sql.replace("?", "%s"), rows)

    def job_ids(self):
        with self.connection.transaction():
            return [row[0] for row in self.connection.execute("SELECT id FROM jobs ORDER BY id")]


def client_job_ids(url, client_id):
    """The ids of a client's live jobs, oldest first."""
    with connect(url) as connection:
        return [row[0] for row in connection.execute(
            "SELECT id FROM jobs WHERE client_id = %s AND deleted_at IS NULL ORDER BY id",
            (client_id,))]


def fill(url, jobs, seed=1):
    """bench/bigdb.py's admin, clients and `jobs` jobs in the (empty) database at `url`:
    COPY with the per-row count triggers off, the counts made once after, then ANALYZE."""
    from werkzeug.security import generate_password_hash

    apply_schema(url)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    stamp = now.isoformat(" ")
    with connect(url) as connection:
        users = [("admin", generate_password_hash(common.ADMIN_PASSWORD), "admin")]
        client_hash = generate_password_hash(common.CLIENT_PASSWORD)
        users += [(name, client_hash, "client") for name in bigdb.CLIENTS]
        client_ids = []
        for username, password_hash, role in users:
            user_id = connection.execute(
                "INSERT INTO users (username, password_hash, role, created_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (username, password_hash, role, stamp)).fetchone()[0]
            if role == "client":
                client_ids.append(user_id)
        rng = random.Random(seed)
        start = int(now.timestamp()) - bigdb.SPAN_SECONDS
        process_random = rng.randbytes(5).hex()
        connection.execute("ALTER TABLE jobs DISABLE TRIGGER USER")
        with connection.cursor().copy(
                f"COPY jobs ({', '.join(bigdb.COLUMNS)}) FROM STDIN") as copy:
            for first in range(0, jobs, bigdb.CHUNK):
                count = min(bigdb.CHUNK, jobs - first)
                owners = rng.choices(client_ids, bigdb.CLIENT_WEIGHTS, k=count)
                statuses = rng.choices(bigdb.STATUSES, bigdb.STATUS_WEIGHTS, k=count)
                for n in range(count):
                    copy.write_row(bigdb._row(first + n, jobs, start, process_random, owners[n],
                                              statuses[n], rng))
        connection.execute("ALTER TABLE jobs ENABLE TRIGGER USER")
        connection.execute(
            "INSERT INTO job_counts (model, status, jobs) SELECT model, status, count(*) "
            "FROM jobs WHERE deleted_at IS NULL GROUP BY model, status")
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size
