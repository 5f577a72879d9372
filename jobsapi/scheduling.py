"""The service's scheduler: one Scheduler and its registry, bound to the app's database."""

from schedules import Registry, Scheduler

from . import backups

registry = Registry()
scheduler = Scheduler(registry)


def init_app(app):
    """Bind the scheduler to the database and the JOBSAPI_* scheduler settings (no thread)."""
    from . import tasks  # noqa: F401  (registers the built-in tasks once)
    from .database import db

    config = app.config
    scheduler.configure(
        db,
        timezone=config["JOBSAPI_TIMEZONE"],
        threads=config["JOBSAPI_SCHEDULER_THREADS"],
        misfire_grace=config["JOBSAPI_MISFIRE_GRACE"],
        shutdown_grace=config["JOBSAPI_SHUTDOWN_GRACE"],
        lease=config["JOBSAPI_SCHEDULER_LEASE"],
    )
    tasks.SETTINGS.update(
        purge_after_days=config["JOBSAPI_PURGE_AFTER_DAYS"],
        log_retention_days=config["JOBSAPI_LOG_RETENTION_DAYS"],
        database_file=db.database,
        backup_dir=config["JOBSAPI_BACKUP_DIR"] or backups.default_directory(db.database),
        backup_keep=config["JOBSAPI_BACKUP_KEEP"],
    )
    with db.connection_context():
        scheduler.sync()
    app.extensions["jobsapi.scheduler"] = scheduler
