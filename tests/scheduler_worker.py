"""A scheduler process for the process tests: `python tests/scheduler_worker.py DB SECONDS [--slow]`
(DB: a SQLite file, or a postgresql:// URL of a database holding the engine's tables)."""

import logging
import pathlib
import signal
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import peewee as pw  # noqa: E402

from schedules import Registry, Scheduler  # noqa: E402

PRAGMAS = {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1}


def tick(context):
    return "ok"


def slow(context):
    time.sleep(30)
    return "slow done"


def main(argv):
    path, seconds, with_slow = argv[0], float(argv[1]), "--slow" in argv[2:]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the sleep below, so the scheduler is stopped the normal way.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if path.startswith("postgresql://"):
        from jobsapi import postgres
        db = postgres.open_database(path, 8)
    else:
        db = pw.SqliteDatabase(path, pragmas=PRAGMAS)
        with db.connection_context():
            if db.execute_sql("PRAGMA user_version").fetchone()[0] == 0:
                db.connection().executescript((ROOT / "schema.sql").read_text())

    registry = Registry()
    registry.task("tick", name="Tick", schedule="* * * * * *")(tick)
    if with_slow:
        registry.task("slow", name="Slow", schedule="* * * * * *")(slow)
    scheduler = Scheduler(registry).configure(db, lease=3)
    scheduler.start()
    print(scheduler.owner, flush=True)
    try:
        time.sleep(seconds)
    finally:
        scheduler.stop(grace=0)


if __name__ == "__main__":
    main(sys.argv[1:])
