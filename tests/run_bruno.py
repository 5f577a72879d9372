"""Run the Bruno API collection in bruno/ against a throw-away jobsapi server.

Usage, from the repository top (after `npm ci` has installed the pinned bru CLI):

    .venv/bin/python tests/run_bruno.py [extra `bru run` arguments, e.g. --bail]

It makes a temporary directory with a fresh database, creates the two client
users the collection logs in as and a worker user (permission jobs.work) with an
API key, starts `app.py` on a free port of 127.0.0.1, waits for GET /health, runs
`bru run --env local` inside bruno/ with the URL, passwords and worker API key of
this server, stops the server and finally checks that the run left no live job
in the database. The exit code is bru's, or 1 when the server did not
come up or jobs were left behind. Standard library only.
"""

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = os.path.join(ROOT, "bruno")
BRU = os.path.join(ROOT, "node_modules", ".bin", "bru")
HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLIENTS = ("client1", "client2")
WORKER = "worker1"


def log(message):
    print(f"run_bruno: {message}", flush=True)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def print_file(path, title):
    print(f"----- {title} ({path}) -----", flush=True)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            sys.stdout.write(handle.read())
    except OSError as exc:
        print(f"(cannot read: {exc})")
    print(f"----- end of {title} -----", flush=True)


def flask_command(*args):
    return [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "app", *args]


def create_user(env, username, password, permissions=()):
    """Create a client user with the service's own CLI (this also creates the database)."""
    command = flask_command("users", "create", username, "--role", "client")
    for permission in permissions:
        command += ["--permission", permission]
    result = subprocess.run([*command, "--password", password], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        log(f"creating user {username} failed (exit {result.returncode}): {' '.join(command[3:])} ...")
        sys.stdout.write(result.stdout)
        sys.stdout.write(result.stderr)
        return False
    return True


def create_api_key(env, username):
    """Make an API key for `username` with the CLI; the key (its stdout), or None."""
    command = flask_command("users", "api-key", "create", username, "--name", "bruno")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    key = result.stdout.strip()
    if result.returncode != 0 or not key.startswith("jak_") or "\n" in key:
        log(f"creating an API key for {username} failed (exit {result.returncode}): "
            f"{' '.join(command[3:])}")
        sys.stdout.write(result.stderr)
        return None
    return key


def wait_for_health(server, url, server_log):
    """Poll GET /health until it answers 200; False if the server died or time ran out."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log(f"the server exited with code {server.returncode} before it was healthy")
            print_file(server_log, "server log")
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
                last_problem = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            last_problem = f"status {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_problem = str(exc)
        time.sleep(0.2)
    log(f"GET {url} did not answer 200 within {HEALTH_TIMEOUT:.0f} s (last: {last_problem})")
    print_file(server_log, "server log")
    return False


def stop_server(server):
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log(f"the server did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM; killing it")
        server.kill()
        server.wait()


def live_jobs(database):
    """The jobs the run left undeleted, as (id, client_id, status, client_reference) rows."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT id, client_id, status, client_reference FROM jobs WHERE deleted_at IS NULL ORDER BY id"
        ).fetchall()
    finally:
        connection.close()


def main(extra_args):
    if not os.path.exists(BRU):
        log(f"{BRU} is missing: run `npm ci` in {ROOT} first")
        return 1

    with tempfile.TemporaryDirectory(prefix="jobsapi-bruno-") as tmp:
        database = os.path.join(tmp, "bruno.db")
        server_log = os.path.join(tmp, "server.log")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        passwords = {
            "admin": secrets.token_urlsafe(18),
            "client1": secrets.token_urlsafe(18),
            "client2": secrets.token_urlsafe(18),
            WORKER: secrets.token_urlsafe(18),
        }
        env = dict(os.environ)
        env.update(
            {
                "JOBSAPI_DATABASE": database,
                "JOBSAPI_PORT": str(port),
                "JOBSAPI_HOST": "127.0.0.1",
                "JOBSAPI_ADMIN_PASSWORD": passwords["admin"],
            }
        )

        for username in CLIENTS:
            if not create_user(env, username, passwords[username]):
                return 1
        if not create_user(env, WORKER, passwords[WORKER], permissions=("jobs.work",)):
            return 1
        worker_key = create_api_key(env, WORKER)
        if worker_key is None:
            return 1

        log(f"starting the server on {base_url} with database {database}")
        with open(server_log, "wb") as log_handle:
            server = subprocess.Popen(
                [sys.executable, "app.py"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
            )
        try:
            if not wait_for_health(server, f"{base_url}/health", server_log):
                return 1
            command = [
                BRU, "run", "--env", "local",
                "--env-var", f"baseUrl={base_url}",
                "--env-var", "adminUsername=admin",
                "--env-var", f"adminPassword={passwords['admin']}",
                "--env-var", "clientUsername=client1",
                "--env-var", f"clientPassword={passwords['client1']}",
                "--env-var", "client2Username=client2",
                "--env-var", f"client2Password={passwords['client2']}",
                "--env-var", f"workerApiKey={worker_key}",
                *extra_args,
            ]
            log(f"running bru {' '.join(['run', '--env', 'local', '--env-var', f'baseUrl={base_url}', *extra_args])}"
                " (passwords and the worker API key passed as --env-var)")
            bru_code = subprocess.run(command, cwd=COLLECTION, stdin=subprocess.DEVNULL).returncode
        finally:
            stop_server(server)

        log(f"bru exited with code {bru_code}")
        if bru_code != 0:
            print_file(server_log, "server log")

        try:
            leftovers = live_jobs(database)
        except sqlite3.Error as exc:
            log(f"ERROR: cannot check the database for leftover jobs: {exc}")
            return bru_code or 1
        if leftovers:
            log(f"ERROR: the collection left {len(leftovers)} live job(s) in the database "
                "(every job it creates must be deleted by the same run):")
            for job_id, client_id, status, client_reference in leftovers:
                print(f"  {job_id} client_id={client_id} status={status} clientReference={client_reference}")
            return bru_code or 1
        log("database is clean: no live jobs left")
        return bru_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
