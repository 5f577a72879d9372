"""Fuzz the live service from its OpenAPI document with schemathesis (`make fuzz`).

Usage, from the repository top:

    .venv/bin/python tests/fuzz.py                  # a random seed, printed
    FUZZ_SEED=1234 .venv/bin/python tests/fuzz.py   # the same seed again
    FUZZ_SECONDS=30 .venv/bin/python tests/fuzz.py  # a shorter run (default 135 s a role)

It starts `app.py` (waitress) on a free port with a temporary database, creates a
client user as the admin, logs both in, and runs `st run` against
<server>/openapi.json twice: first with the client's bearer token, then with the
admin's, each over every operation and every phase (examples, coverage, fuzzing,
and stateful sequences through the links schemathesis infers from the responses).
Settings and the few per-operation exceptions, each with its reason, are in
tests/fuzz.toml; tests/fuzz_hooks.py adds a check that every 4xx and 5xx body is
in the one error shape. Each failure prints a curl command that reproduces it.
The exit code is 1 when either run found a failure or could not run, else 0.
"""

import os
import pathlib
import random
import secrets
import shlex
import subprocess
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from conftest import ADMIN_PASSWORD, LiveServer  # noqa: E402

HOOKS = ROOT / "tests" / "fuzz_hooks.py"
CONFIG = ROOT / "tests" / "fuzz.toml"
ST = pathlib.Path(sys.executable).with_name("st")
# Two runs of this many seconds (plus start-up) keep `make fuzz` near five minutes.
SECONDS_PER_RUN = int(os.environ.get("FUZZ_SECONDS", "135"))

# Every check schemathesis has, none excluded. object_level_authorization acts only
# when given several identities (a WFC auth file), so with one token per run it
# checks nothing here; tests/test_authz_matrix.py covers one client against another.
CHECKS = "all"


def log(message):
    print(f"fuzz: {message}", flush=True)


def login(server, username, password):
    response = requests.post(
        server.base_url + "/api/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def create_client(server, admin_token):
    username = f"fuzz-client-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    response = requests.post(
        server.base_url + "/api/users",
        json={"username": username, "password": password, "role": "client"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    response.raise_for_status()
    return username, password


def st_command(server, token, seed):
    return [
        str(ST), "--config-file", str(CONFIG), "run", f"{server.base_url}/openapi.json",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing,stateful",
        # One worker: as fast here as two (the server shares the two cores), a seed
        # replays more closely, and Python 3.11 before 3.11.8 can fail hypothesis with
        # "AST constructor recursion depth mismatch" when two threads parse at once.
        "--workers", "1",
        "--max-time", str(SECONDS_PER_RUN),
        "--seed", str(seed),
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
    ]


def run_schemathesis(server, role, token, seed, user_id, logout_token):
    """One `st run` with this token (tests/fuzz.toml sends it); it works in the server's
    temporary directory, so hypothesis keeps its files there and not in the repository.
    Logout revokes the access token it is called with, so the logout route is sent
    another token of the same user (`logout_token`), never the run's own."""
    command = st_command(server, token, seed)
    env = {
        **os.environ,
        "FUZZ_TOKEN": token,
        "FUZZ_LOGOUT_TOKEN": logout_token,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "FUZZ_USER_ID": str(user_id),
        "FUZZ_ROLE": role,
    }
    shown = shlex.join(command).replace(token, "<token>")
    log(f"{role}: {shown}")
    started = time.monotonic()
    code = subprocess.run(
        command, cwd=server.directory, env=env, stdin=subprocess.DEVNULL
    ).returncode
    log(f"{role}: schemathesis exited with {code} after {time.monotonic() - started:.0f} s")
    return code


def account_intact(server, tokens):
    """Whether the run's own token still works as the same role: a run that disabled or
    demoted its own account (tests/fuzz_hooks.py filters those cases) tested nothing after."""
    response = requests.get(
        server.base_url + "/api/auth/me",
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
        timeout=30,
    )
    return response.status_code == 200 and response.json()["role"] == tokens["user"]["role"]


def server_problems(server):
    """The server log without its access lines: tracebacks and warnings."""
    return "".join(
        line for line in server.log_text().splitlines(keepends=True) if "jobsapi.access" not in line
    )


def main():
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**31))
    log(f"seed {seed} (rerun with: FUZZ_SEED={seed} make fuzz)")
    failed = []
    with tempfile.TemporaryDirectory(prefix="jobsapi-fuzz-") as tmp:
        server = LiveServer(tmp).start()
        try:
            # Both log in before any run: the runs' failed logins may lock a username out
            # (429, which they then test), but never take a token already issued.
            admin = login(server, "admin", ADMIN_PASSWORD)
            username, password = create_client(server, admin["accessToken"])
            client = login(server, username, password)
            logout_tokens = {"admin": login(server, "admin", ADMIN_PASSWORD),
                             "client": login(server, username, password)}
            # The client runs first: the admin run may change or disable any other user.
            for role, tokens in (("client", client), ("admin", admin)):
                code = run_schemathesis(
                    server, role, tokens["accessToken"], seed, tokens["user"]["id"],
                    logout_tokens[role]["accessToken"],
                )
                if not account_intact(server, tokens):
                    log(f"{role}: the run's own account was disabled or demoted mid-run")
                    code = code or 1
                if code != 0:
                    failed.append(role)
        finally:
            server.stop()
            if failed:
                log(f"server log without access lines ({server.log_path}):")
                sys.stdout.write(server_problems(server)[-20000:])
    if failed:
        log(f"FAILED: the {' and '.join(failed)} run(s) found problems; seed {seed}")
        log("each failure above has a curl command that reproduces it against a server;")
        log(f"FUZZ_SEED={seed} make fuzz generates the same requests again")
        return 1
    log(f"passed: both runs, seed {seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
