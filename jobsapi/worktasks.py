"""Built-in tasks of the worker protocol: lapsed leases taken back, finished jobs purged."""

from datetime import timedelta

from . import claims, database, idempotency
from .models import Job
from .scheduling import registry

FINISHED = ("CONSUMED", "CANCELED")
PURGE_CHUNK = 500  # jobs per transaction: the write lock is never held for long


@registry.task(
    "reap-leases",
    name="Reap Leases",
    description="Returns jobs whose worker's lease lapsed (or ends them after their last "
                "attempt), so the job list is honest when nobody claims",
    schedule="* * * * * */15",
)
def reap_leases(context):
    return f"Took back {claims.reap(database.now())} jobs whose lease lapsed"


@registry.task(
    "purge-finished-jobs",
    name="Purge Finished Jobs",
    description="Hard-deletes CONSUMED and CANCELED jobs (with their attempts) finished "
                "more than JOBSAPI_RETAIN_FINISHED_DAYS ago; unset, keeps them all",
    schedule="15 0 * * *",
)
def purge_finished_jobs(context):
    days = context.settings["retain_finished_days"]
    forgotten = idempotency.purge(database.now())
    if days is None:
        return f"Kept every finished job (JOBSAPI_RETAIN_FINISHED_DAYS is unset); " \
               f"forgot {forgotten} idempotency keys"
    cutoff = database.now() - timedelta(days=days)
    purged = 0
    while not context.stopping:
        with database.writing():
            ids = [job.id for job in Job.select(Job.id).where(
                Job.status.in_(FINISHED) & (Job.updated_at < cutoff)).limit(PURGE_CHUNK)]
            if ids:
                purged += Job.delete().where(Job.id.in_(ids)).execute()
        if len(ids) < PURGE_CHUNK:
            break
    return (f"Purged {purged} jobs finished more than {days} days ago; "
            f"forgot {forgotten} idempotency keys")
