"""PostgreSQL restarted under load: the instances reconnect by themselves, requests during
the outage get 503 in the error shape, none hangs, and nothing is half-written.

The test restarts a PostgreSQL of its own (the system's binaries), not the one the other
tests share."""

import threading
import time

import pytest
import requests

import pgcluster
from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, query, wait_for

CLIENTS = 8
BATCH = 25
HANG = 20.0  # seconds: an answer slower than this is a hang


@pytest.fixture
def own_cluster():
    if not pgcluster.BINARIES:
        pytest.fail("this test restarts a PostgreSQL of its own: it needs the server binaries "
                    "(apt-get install postgresql)", pytrace=False)
    cluster = pgcluster.Cluster(own=True)
    yield cluster
    cluster.stop()


def write_and_read(api, number, stop, seen):
    """Batch creates (each marked) and reads until `stop`; every answer noted."""
    count = 0
    while not stop.is_set():
        marker = f"c{number}-{count}"
        count += 1
        started = time.monotonic()
        try:
            response = api.post("/jobs/batch", timeout=HANG + 10, json={"jobs": [
                {"operation": "restart", "prompts": ["p"], "model": "m",
                 "requestData": {"n": n}, "clientReference": {"batch": marker}}
                for n in range(BATCH)]})
            read = api.get("/jobs?limit=5", timeout=HANG + 10)
        except requests.RequestException as error:
            seen.append((marker, "no answer", repr(error), time.monotonic() - started))
            continue
        seen.append((marker, response.status_code, response, time.monotonic() - started))
        seen.append((None, read.status_code, read, 0.0))
        if 503 in (response.status_code, read.status_code):
            time.sleep(0.05)  # as a client told Retry-After would, but sooner


def test_instances_ride_out_a_postgresql_restart(tmp_path, own_cluster):
    url = own_cluster.create_database()
    env = {"JOBSAPI_DATABASE": url, "JOBSAPI_SECRET_KEY": pgcluster.SECRET_KEY,
           "JOBSAPI_SCHEDULER_LEASE": "5"}
    servers = []
    for number in range(2):
        (tmp_path / str(number)).mkdir()
        servers.append(LiveServer(tmp_path / str(number), **env))
    stop, seen, threads = threading.Event(), [], []
    try:
        for server in servers:
            server.start(timeout=60)
        admin = Api(servers[0], "admin", ADMIN_PASSWORD)
        for number in range(CLIENTS):
            api = Api(servers[number % 2])
            api.session.headers["Authorization"] = admin.session.headers["Authorization"]
            threads.append(threading.Thread(target=write_and_read, args=(api, number, stop, seen)))
        for thread in threads:
            thread.start()
        assert wait_for(lambda: sum(entry[1] == 201 for entry in seen) >= 20, 30)
        own_cluster.restart()
        restarted = len(seen)
        # The instances reconnect by themselves: creates succeed again on both.
        assert wait_for(lambda: sum(entry[1] == 201 for entry in seen[restarted:]) >= 20, 30)
        stop.set()
        for thread in threads:
            thread.join(timeout=HANG + 20)
            assert not thread.is_alive(), "a client hangs"
        for server in servers:
            health = requests.get(server.base_url + "/health", timeout=10)
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        logs = [server.log_text() for server in servers]
    finally:
        stop.set()
        for server in servers:
            server.stop()

    assert [entry for entry in seen if entry[1] == "no answer"] == []
    assert {entry[1] for entry in seen} <= {200, 201, 503}, {entry[1] for entry in seen}
    outage = [entry for entry in seen if entry[1] == 503]
    assert outage, "no request met the restart"
    for _, _, response, _ in outage:
        assert_error(response, 503, "database is unavailable")
        assert response.headers["Retry-After"] == "1"
    assert max(entry[3] for entry in seen) < HANG
    assert any("database unavailable" in log for log in logs)
    # Each scheduler's listening connection came back by itself.
    assert all("wake-ups: listening again on PostgreSQL" in log for log in logs)
    # Every batch whole or absent: acknowledged ones whole, cut ones either way.
    stored = dict(query(url, "SELECT client_reference ->> 'batch', count(*) FROM jobs "
                             "GROUP BY 1"))
    for marker, status, _, _ in seen:
        if marker is not None and status == 201:
            assert stored.get(marker) == BATCH, (marker, stored.get(marker))
        elif marker is not None:  # cut by the restart: committed whole, or not at all
            assert stored.get(marker, 0) in (0, BATCH), (marker, status, stored.get(marker))
    print(f"\nrestart: {len(seen)} requests, {len(outage)} answered 503 during the outage, "
          f"{sum(entry[1] == 201 for entry in seen)} batches acknowledged and whole")
