"""Built-in maintenance tasks, registered with the service's scheduler."""

import os
from datetime import timedelta

import peewee as pw

from schedules.doorbell import remove_stale_sockets
from schedules.models import JobRun

from . import backups, database, dialect
from .accounts import purge_revoked_tokens
from .models import Job, RefreshToken
from .scheduling import registry
from .timeutil import utcnow

KEEP_RUNS_PER_JOB = 100


@registry.task(
    "cleanup-expired-tokens",
    name="Cleanup Expired Tokens",
    description="Removes expired and revoked refresh tokens, and revoked access tokens once "
                "expired, from the database",
    schedule="0 0 * * *",
)
def cleanup_expired_tokens(context):
    now = utcnow()
    # A revoked token goes once its whole chain is dead: until then it still serves to
    # detect reuse (which revokes the chain).
    live_families = RefreshToken.select(RefreshToken.family).where(
        RefreshToken.revoked_at.is_null() & (RefreshToken.expires_at > now)
    )
    count = RefreshToken.delete().where(
        (RefreshToken.expires_at <= now)
        | (RefreshToken.revoked_at.is_null(False) & RefreshToken.family.not_in(live_families))
    ).execute()
    revoked = purge_revoked_tokens(now)
    return (f"Deleted {count} expired or revoked refresh tokens and {revoked} expired "
            "revoked access tokens")


@registry.task(
    "purge-deleted-jobs",
    name="Purge Deleted Jobs",
    description="Hard-deletes work jobs soft-deleted longer than JOBSAPI_PURGE_AFTER_DAYS",
    schedule="30 0 * * *",
)
def purge_deleted_jobs(context):
    days = context.settings["purge_after_days"]
    cutoff = utcnow() - timedelta(days=days)
    count = Job.delete().where(Job.deleted_at.is_null(False) & (Job.deleted_at < cutoff)).execute()
    return f"Purged {count} jobs deleted more than {days} days ago"


@registry.task(
    "prune-job-logs",
    name="Prune Job Logs",
    description="Deletes run logs older than JOBSAPI_LOG_RETENTION_DAYS, keeping the last 100 per job",
    schedule="45 0 * * *",
)
def prune_job_logs(context):
    days = context.settings["log_retention_days"]
    cutoff = utcnow() - timedelta(days=days)
    ranked = JobRun.select(
        JobRun.id,
        pw.fn.ROW_NUMBER().over(partition_by=[JobRun.job], order_by=[JobRun.id.desc()]).alias("n"),
    )
    keep = pw.Select([ranked], [ranked.c.id]).where(ranked.c.n <= KEEP_RUNS_PER_JOB)
    count = JobRun.delete().where(
        (JobRun.started_at < cutoff) & (JobRun.result != "running") & JobRun.id.not_in(keep)
    ).execute()
    return f"Deleted {count} run logs older than {days} days"


@registry.task(
    "metadata-sync",
    name="Metadata Sync",
    description="Brings the database's query-planner statistics up to date (ANALYZE)",
    schedule="0 */6 * * *",
)
def metadata_sync(context):
    db = database.current()
    tables = dialect.of(db).analyze(db)
    return f"Query-planner statistics refreshed for {tables} tables"


@registry.task(
    "backup-database",
    name="Backup Database",
    description="Writes a consistent copy of the database to JOBSAPI_BACKUP_DIR, keeping the "
                "newest JOBSAPI_BACKUP_KEEP",
    schedule="15 1 * * *",
)
def backup_database(context):
    if context.settings["database_file"] is None:
        return "Nothing to do on PostgreSQL: back it up with pg_dump (README, Backups)"
    directory = context.settings["backup_dir"]
    path = backups.back_up(context.settings["database_file"], directory)
    removed = backups.prune(directory, context.settings["backup_keep"])
    return (f"Backed up the database to {path} ({os.path.getsize(path)} bytes); "
            f"removed {len(removed)} older backups")


@registry.task(
    "cleanup-orphaned-files",
    name="Cleanup Orphaned Files",
    description="Removes backups beyond the retention, partial backups of interrupted runs "
                "and wake-up sockets of dead processes",
    schedule="0 2 * * 0",
)
def cleanup_orphaned_files(context):
    directory = context.settings["backup_dir"]
    removed = remove_stale_sockets(context.settings["database_file"])
    if directory:
        removed = (backups.prune(directory, context.settings["backup_keep"])
                   + backups.remove_partials(directory) + removed)
    if not removed:
        return "Removed 0 orphaned files"
    return f"Removed {len(removed)} orphaned files: {backups.listed(removed)}"
