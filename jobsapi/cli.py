"""`flask users ...`: create, list and disable users; `flask db copy`: move the database."""

import click
from flask import current_app
from flask.cli import AppGroup

from . import accounts, activity, apikeys, database, dbcopy
from .auth import PERMISSIONS, ROLES
from .errors import Conflict
from .models import User

users_cli = AppGroup("users", help="Manage users.")
db_cli = AppGroup("db", help="Manage the database.")


def init_app(app):
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)


def require_database():
    """Refuse to go on without the database: reading or changing users of an empty
    database made here would only hide that the server uses another one."""
    if not database.is_present(current_app):
        raise click.ClickException(database.missing_message(current_app))


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="client", show_default=True)
@click.option("--permission", "permissions", multiple=True, type=click.Choice(PERMISSIONS),
              help="Grant a permission (repeatable).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given.")
def create_user(username, role, permissions, password):
    """Create a user."""
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    if not database.is_present(current_app):  # a first user may make a new database
        import jobsapi  # the package imports this module: its prepare exists once loaded

        jobsapi.prepare(current_app)
    with database.current().connection_context():
        try:
            user = accounts.create_user(username, password, role, permissions)
        except Conflict as error:
            raise click.ClickException(error.message) from None
        activity.record("users.create", resource="user", resource_id=user.id,
                        details={"username": username, "role": role,
                                 "permissions": user.permissions, "via": "cli"})
    click.echo(f"Created {user.role} '{user.username}' (id {user.id}).")


@users_cli.command("list")
def list_users():
    """List users."""
    require_database()
    with database.current().connection_context():
        for user in User.select().order_by(User.id):
            state = "disabled" if user.disabled else "active"
            perms = ",".join(user.permissions) or "-"
            click.echo(f"{user.id}\t{user.username}\t{user.role}\t{state}\t{perms}")


@users_cli.command("disable")
@click.argument("username")
def disable_user(username):
    """Disable a user (their tokens stop working)."""
    require_database()
    with database.current().connection_context():
        user = User.get_or_none(User.username == username)
        if user is None:
            raise click.ClickException(f"No such user: {username}")
        accounts.update_user(user, {"disabled": True})
        activity.record("users.update", resource="user", resource_id=user.id,
                        details={"disabled": True, "via": "cli"})
    click.echo(f"Disabled '{username}'.")


@users_cli.group("api-key")
def api_key_cli():
    """Manage a user's API keys."""


@api_key_cli.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the key is for (e.g. worker-1).")
@click.option("--days", type=click.IntRange(1, 3650), help="Expire after this many days.")
def create_api_key(username, name, days):
    """Make an API key for a user and print it (shown this once)."""
    require_database()
    with database.current().connection_context():
        user = User.get_or_none(User.username == username)
        if user is None:
            raise click.ClickException(f"No such user: {username}")
        row, key = apikeys.create_key(user, name, days)
        activity.record("users.api_key.create", resource="user", resource_id=user.id,
                        details={"keyId": row.id, "name": name, "via": "cli"})
    click.echo(key)
    click.echo(f"(API key {row.id} '{name}' of '{username}': shown this once; only its hash "
               "is stored)", err=True)


@db_cli.command("copy")
@click.argument("target")
def copy_database(target):
    """Copy the database into TARGET, an empty one: a SQLite file path or a postgresql:// URL.

    Stop the service first: rows written during the copy would not be in it."""
    require_database()
    dbcopy.copy(current_app.extensions["jobsapi.db"], current_app.config["JOBSAPI_DATABASE"],
                target)
