"""The `flask users ...` commands, run as a user would run them."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import ADMIN_PASSWORD
from jobsapi import create_app

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = re.compile(r"generated password: (\S+)")


def flask(database, *args, admin_password=ADMIN_PASSWORD, input=None):
    """Run `flask --app app ARGS` from the repository root against `database`."""
    env = {**os.environ, "JOBSAPI_DATABASE": str(database)}
    env.pop("JOBSAPI_ADMIN_PASSWORD", None)
    if admin_password is not None:
        env["JOBSAPI_ADMIN_PASSWORD"] = admin_password
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, input=input, capture_output=True, text=True, timeout=60,
    )


def create(database, name, *options):
    options = options or ("--role", "client", "--permission", "activities.read")
    return flask(database, "users", "create", name, *options, "--password", "pw123456")


def listed(database):
    result = flask(database, "users", "list")
    assert result.returncode == 0, result.stderr
    return {line.split("\t")[1]: line.split("\t") for line in result.stdout.splitlines()}


def login(client, username, password):
    return client.post("/api/auth/login", json={"username": username, "password": password})


@pytest.fixture
def database(app):
    """The file the `app` fixture uses, so the CLI and the app share one database."""
    return app.config["JOBSAPI_DATABASE"]


def test_create_then_list(tmp_path):
    database = tmp_path / "x.db"
    result = create(database, "carol")
    assert result.returncode == 0, result.stderr
    assert "carol" in result.stdout
    row = listed(database)["carol"]
    assert row[2:] == ["client", "active", "activities.read"]
    assert listed(database)["admin"][2:4] == ["admin", "active"]


def test_create_several_permissions_and_an_admin(tmp_path):
    database = tmp_path / "x.db"
    result = create(database, "dora", "--role", "admin",
                    "--permission", "users.manage", "--permission", "settings.update")
    assert result.returncode == 0, result.stderr
    row = listed(database)["dora"]
    assert row[2] == "admin" and sorted(row[4].split(",")) == ["settings.update", "users.manage"]


def test_created_user_can_log_in_and_disable_stops_them(database, client):
    assert create(database, "carol").returncode == 0
    response = login(client, "carol", "pw123456")
    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    assert tokens["user"]["permissions"] == ["activities.read"]

    result = flask(database, "users", "disable", "carol")
    assert result.returncode == 0, result.stderr
    assert listed(database)["carol"][3] == "disabled"
    assert login(client, "carol", "pw123456").status_code == 401
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    assert me.status_code == 401
    again = client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert again.status_code == 401


def test_duplicate_create_fails_with_a_message(tmp_path):
    database = tmp_path / "x.db"
    assert create(database, "carol").returncode == 0
    result = create(database, "carol")
    assert result.returncode != 0
    assert "carol" in result.stderr and "exists" in result.stderr
    assert list(listed(database)) == ["admin", "carol"]


def test_disable_unknown_user_fails(database):
    result = flask(database, "users", "disable", "nobody")
    assert result.returncode != 0 and "nobody" in result.stderr


@pytest.mark.parametrize(
    "options",
    [("--role", "root"), ("--permission", "jobs.everything")],
)
def test_bad_role_or_permission_is_refused(database, options):
    result = create(database, "carol", *options)
    assert result.returncode != 0 and "Invalid value" in result.stderr
    assert "carol" not in listed(database)


def test_short_password_is_refused(database):
    result = flask(database, "users", "create", "carol", "--password", "short")
    assert result.returncode != 0 and "8 characters" in result.stderr
    assert "carol" not in listed(database)


@pytest.mark.parametrize("command", [("users", "list"), ("users", "disable", "carol")])
def test_commands_that_only_read_or_change_users_create_no_database(tmp_path, command):
    directory = tmp_path / "var"
    database = directory / "jobsapi.db"
    result = flask(database, *command, admin_password=None)
    assert result.returncode != 0
    assert f"no database at {database}: set JOBSAPI_DATABASE" in result.stderr
    assert "password" not in result.stdout
    assert not directory.exists()  # no file, no secret key, no directory


def test_without_the_servers_database_setting_the_cli_creates_nothing(tmp_path):
    # Run from elsewhere with no JOBSAPI_DATABASE: the default var/jobsapi.db is missing.
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOBSAPI_")}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", str(ROOT / "app.py"), "users", "list"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert f"no database at {tmp_path / 'var' / 'jobsapi.db'}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_password_is_prompted_for_when_not_given(database, client):
    result = flask(database, "users", "create", "erin", input="pw-from-prompt\npw-from-prompt\n")
    assert result.returncode == 0, result.stderr
    assert "pw-from-prompt" not in result.stdout
    assert login(client, "erin", "pw-from-prompt").status_code == 200


def test_generated_admin_password_is_printed_once_and_works(tmp_path):
    database = tmp_path / "x.db"
    first = flask(database, "users", "create", "carol", "--password", "pw123456",
                  admin_password=None)
    assert first.returncode == 0, first.stderr
    printed = GENERATED.findall(first.stdout)
    assert len(printed) == 1, first.stdout

    second = flask(database, "users", "list", admin_password=None)
    assert second.returncode == 0, second.stderr
    assert "password" not in second.stdout and printed[0] not in second.stdout

    app = create_app({"JOBSAPI_DATABASE": str(database)})
    client = app.test_client()
    assert login(client, "admin", printed[0]).status_code == 200
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 401


def test_admin_password_from_the_environment_prints_nothing(tmp_path):
    database = tmp_path / "x.db"
    result = create(database, "carol")
    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout
    client = create_app({"JOBSAPI_DATABASE": str(database)}).test_client()
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 200
