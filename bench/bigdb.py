"""Service databases with many jobs, written straight with sqlite3 and cached under var/bench.

The file is made from schema.sql (jobsapi.database.apply_schema), holds an admin and four
clients, and jobs spread over 30 days with a realistic mix of owners and statuses; the
planner statistics are gathered the way the built-in metadata-sync task does. A cached
file is reused while GENERATOR_VERSION and the schema version are unchanged.
"""

import datetime as dt
import os
import random
import sqlite3

from . import common

GENERATOR_VERSION = "1"
CLIENTS = ("client-1", "client-2", "client-3", "client-4")
CLIENT_WEIGHTS = (40, 30, 20, 10)
STATUSES = ("PENDING", "PROCESSING", "PROCESSED", "CONSUMED", "ERROR_PROCESSING",
            "ERROR_CONSUMING", "CANCELED")
STATUS_WEIGHTS = (8, 2, 8, 70, 2, 1, 9)
DELETED_SHARE = 0.02
SPAN_SECONDS = 30 * 24 * 3600
CHUNK = 50_000
TEXT = ("the customer reports that the export of monthly invoices stops with a timeout; "
        "they tried twice from the web app and once from the API and need the file for "
        "their accountant before the end of the week.")
OPERATIONS = ("summarize", "classify", "extract", "translate")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b")
COLUMNS = ("id", "client_id", "status", "operation", "prompts", "model", "temperature",
           "priority", "request_data", "client_reference", "response_data",
           "processing_metrics", "error_data", "created_at", "updated_at", "deleted_at",
           "available_at", "attempts")


def cached(jobs):
    """The path of a database with `jobs` jobs, generated on first use."""
    from jobsapi.database import SCHEMA_VERSION

    path = common.WORK / "cache" / f"jobs-{jobs}-g{GENERATOR_VERSION}-s{SCHEMA_VERSION}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        for leftover in (partial, partial.with_name(partial.name + "-wal"),
                         partial.with_name(partial.name + "-shm")):
            leftover.unlink(missing_ok=True)
        generate(partial, jobs)
        os.replace(partial, path)
    return path


def generate(path, jobs, seed=1):
    import peewee as pw
    from werkzeug.security import generate_password_hash

    from jobsapi.database import apply_schema

    database = pw.SqliteDatabase(str(path))
    with database.connection_context():
        apply_schema(database)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    stamp = now.isoformat(" ")
    connection.execute("BEGIN")
    connection.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, 'admin', ?)",
        ("admin", generate_password_hash(common.ADMIN_PASSWORD), stamp))
    client_hash = generate_password_hash(common.CLIENT_PASSWORD)
    client_ids = []
    for name in CLIENTS:
        cursor = connection.execute(
            "INSERT INTO users (username, password_hash, role, created_at) "
            "VALUES (?, ?, 'client', ?)", (name, client_hash, stamp))
        client_ids.append(cursor.lastrowid)
    rng = random.Random(seed)
    start = int(now.timestamp()) - SPAN_SECONDS
    process_random = rng.randbytes(5).hex()
    insert = (f"INSERT INTO jobs ({', '.join(COLUMNS)}) "
              f"VALUES ({', '.join('?' * len(COLUMNS))})")
    for first in range(0, jobs, CHUNK):
        count = min(CHUNK, jobs - first)
        owners = rng.choices(client_ids, CLIENT_WEIGHTS, k=count)
        statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=count)
        connection.executemany(insert, [
            _row(first + n, jobs, start, process_random, owners[n], statuses[n], rng)
            for n in range(count)
        ])
    connection.execute("COMMIT")
    connection.execute("PRAGMA analysis_limit = 1000")  # as the metadata-sync task does
    connection.execute("ANALYZE")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()


def _row(index, jobs, start, process_random, owner, status, rng):
    seconds = start + index * SPAN_SECONDS // jobs
    created = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
    created_at = created.isoformat(" ")
    updated_at = (created + dt.timedelta(seconds=rng.randint(0, 600))).isoformat(" ")
    started = status != "PENDING"
    done = status in ("PROCESSED", "CONSUMED", "ERROR_CONSUMING")
    deleted = rng.random() < DELETED_SHARE
    return (
        f"{seconds:08x}{process_random}{index & 0xFFFFFF:06x}",
        owner,
        status,
        OPERATIONS[index % 4],
        f'["Summarize ticket {index} for the support lead in two sentences.","{TEXT}"]',
        MODELS[index % 3],
        0.2,
        rng.randint(1, 1000),
        f'{{"ticketId":"T-{index}","language":"en","maxTokens":256}}',
        f'{{"ref":"order-{index % 5000}","batch":"b-{index // 1000}"}}',
        '{"summary":"Invoice export times out past a page; needed this week."}' if done else None,
        f'{{"inputTokens":{200 + index % 90},"outputTokens":41,"ms":{800 + index % 700}}}'
        if started else None,
        '{"message":"upstream timeout"}' if status.startswith("ERROR") else None,
        created_at,
        updated_at,
        updated_at if deleted else None,
        created_at,  # available_at: due since it was made
        1 if started else 0,  # attempts
    )
