"""The service's scheduler: one registry of tasks, and a Scheduler per app on its database."""

from flask import current_app

from schedules import Registry, Scheduler

from . import backups, database, models, postgres

registry = Registry()


def init_app(app):
    """Give the app a Scheduler on its database with the JOBSAPI_* scheduler settings (no
    thread: jobsapi.serve starts it) in app.extensions["jobsapi.scheduler"]."""
    from . import tasks, worktasks  # noqa: F401  (register the built-in tasks once)

    config, db = app.config, app.extensions["jobsapi.db"]
    scheduler = Scheduler(registry).configure(
        db,
        models=models.MODELS,
        timezone=config["JOBSAPI_TIMEZONE"],
        threads=config["JOBSAPI_SCHEDULER_THREADS"],
        misfire_grace=config["JOBSAPI_MISFIRE_GRACE"],
        shutdown_grace=config["JOBSAPI_SHUTDOWN_GRACE"],
        lease=config["JOBSAPI_SCHEDULER_LEASE"],
        settings=task_settings(config, database.file_of(app)),
        clock=postgres.Clock(db) if database.is_postgresql(app) else None,
    )
    with db.connection_context():
        scheduler.sync()
    app.extensions["jobsapi.scheduler"] = scheduler


def task_settings(config, database_file):
    """What the built-in tasks read from their context's settings (`database_file` None
    on PostgreSQL: nothing to copy or tidy on this box, and never the URL)."""
    backup_dir = config["JOBSAPI_BACKUP_DIR"]
    if not backup_dir and database_file:
        backup_dir = backups.default_directory(database_file)
    return {
        "purge_after_days": config["JOBSAPI_PURGE_AFTER_DAYS"],
        "log_retention_days": config["JOBSAPI_LOG_RETENTION_DAYS"],
        "database_file": database_file,
        "backup_dir": backup_dir,
        "backup_keep": config["JOBSAPI_BACKUP_KEEP"],
        "retain_finished_days": config["JOBSAPI_RETAIN_FINISHED_DAYS"],
    }


def current_scheduler():
    """The scheduler of the app handling the request."""
    return current_app.extensions["jobsapi.scheduler"]
