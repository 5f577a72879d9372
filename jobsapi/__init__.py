"""jobsapi: work jobs over HTTP and a cron scheduler for maintenance tasks."""

from flask import Flask

from . import auth, cli, dashboard, database, errorhandlers, metrics, rest, scheduling, waiting
from .accounts import ensure_admin
from .config import from_env
from .resources import auth as auth_resource
from .resources import activities, health, jobs, queue, scheduled, userkeys, users, work
from .resources import metrics as metrics_resource
from .server import serve

__all__ = ["create_app", "prepare", "serve"]

BLUEPRINTS = (health.blp, auth_resource.blp, users.blp, userkeys.blp, jobs.blp, work.blp,
              queue.blp, scheduled.blp, activities.blp)


def create_app(config=None):
    """Build the service: configuration, extensions, blueprints, CLI, first admin.

    A missing database file is created, unless `config` sets JOBSAPI_CREATE_DATABASE to
    False (then `prepare(app)` creates it when wanted)."""
    app = Flask(__name__)
    app.config.update(from_env())
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = app.config["JOBSAPI_MAX_BODY"]

    database.init_app(app)
    auth.init_app(app)
    if database.is_present(app):  # else the CLI's app, on no database yet: see prepare
        scheduling.init_app(app)
    api = rest.init_app(app)
    errorhandlers.init_app(app)
    waiting.init_app(app)
    metrics.init_app(app)
    for blueprint in (*BLUEPRINTS, metrics_resource.blueprint_for(app.config)):
        api.register_blueprint(blueprint)
    dashboard.init_app(app)
    cli.init_app(app)
    if database.is_present(app):
        bootstrap_admin(app)
    return app


def prepare(app):
    """Create what a first start creates, for an app built on no database yet (the
    CLI's, with JOBSAPI_CREATE_DATABASE false): the database file, the secret key, the
    scheduled tasks' rows, the admin."""
    database.prepare(app)
    auth.prepare(app)
    scheduling.init_app(app)
    bootstrap_admin(app)


def bootstrap_admin(app):
    """On an empty database, create the user `admin`; print its password if generated."""
    with app.extensions["jobsapi.db"].connection_context():
        generated = ensure_admin(app.config.get("JOBSAPI_ADMIN_PASSWORD"))
    if generated:
        print(
            "Created the user 'admin' with the generated password: "
            f"{generated}\n(shown once; set JOBSAPI_ADMIN_PASSWORD before the first start "
            "to choose it)",
            flush=True,
        )
