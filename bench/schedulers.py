"""The two schedulers under the same conditions, each in a process of its own.

`engine` is this project's schedules.Scheduler on a temporary SQLite file made from
schema.sql, configured with the service's defaults; `apscheduler` is APScheduler 3's
BackgroundScheduler with its default (memory) job store and thread pool. Both are given
`count` jobs on the same cron expression, then started.
"""

import datetime as dt
import threading
import time

UTC = dt.timezone.utc


def noop(*args):
    return None


class Engine:
    name = "engine"

    def __init__(self, directory, count, expression, task=noop):
        from playhouse.pool import PooledSqliteDatabase

        from jobsapi.config import from_env
        from jobsapi.database import PRAGMAS, apply_schema
        from schedules import Registry, Scheduler

        # Pooled, as the service's database is (jobsapi.database).
        self.database = PooledSqliteDatabase(str(directory / "scheduler.db"), pragmas=PRAGMAS,
                                             timeout=10, max_connections=None,
                                             check_same_thread=False)
        with self.database.connection_context():
            apply_schema(self.database)
        registry = Registry()
        for n in range(count):
            registry.task(f"bench-{n:04d}", name=f"Bench {n}", schedule=expression)(task)
        config = from_env()
        self.scheduler = Scheduler(registry).configure(
            self.database,
            timezone=config["JOBSAPI_TIMEZONE"],
            threads=config["JOBSAPI_SCHEDULER_THREADS"],
            misfire_grace=config["JOBSAPI_MISFIRE_GRACE"],
            shutdown_grace=config["JOBSAPI_SHUTDOWN_GRACE"],
            lease=config["JOBSAPI_SCHEDULER_LEASE"],
        )

    def start(self):
        self.scheduler.start()

    def stop(self):
        self.scheduler.stop(grace=5)

    def runs(self):
        """(run id, slot as epoch seconds, result) of every recorded run or slot."""
        from schedules.models import JobRun

        with self.database.connection_context():
            query = JobRun.select(JobRun.id, JobRun.scheduled_for, JobRun.result)
            return [(run.id, run.scheduled_for.replace(tzinfo=UTC).timestamp(), run.result)
                    for run in query if run.scheduled_for is not None]


class APScheduler:
    name = "apscheduler"

    def __init__(self, directory, count, expression, task=noop, job_defaults=None):
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults=job_defaults or {})
        for n in range(count):
            self.scheduler.add_job(task, _trigger(CronTrigger, expression), id=f"bench-{n:04d}",
                                   args=(f"bench-{n:04d}",))

    def start(self):
        self.scheduler.start()

    def stop(self):
        self.scheduler.shutdown(wait=True)


def _trigger(cron_trigger, expression):
    """APScheduler's trigger for an engine expression (five fields, or six with seconds last)."""
    fields = expression.split()
    if len(fields) == 5:
        return cron_trigger.from_crontab(expression, timezone=UTC)
    minute, hour, day, month, day_of_week, second = fields
    if day_of_week != "*":
        raise ValueError("only '*' is translated for the day of week of six-field expressions")
    return cron_trigger(second=second, minute=minute, hour=hour, day=day, month=month,
                        timezone=UTC)


def thread_count():
    return threading.active_count()


def wait_until(deadline):
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 1.0))
