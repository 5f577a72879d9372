"""GET /metrics and GET /jobs/stats on a database of a million jobs: the median time of
each (the database reads are most of it), against the targets (a scrape under 50 ms;
the stats "cheap": the same bound).

The app runs in process on a copy of bench/bigdb.py's cached database; each request goes
through the whole app (routing, auth, rendering): /metrics open with
JOBSAPI_METRICS_PUBLIC, /jobs/stats as the admin.
"""

import shutil
import statistics
import time

from . import bigdb, common

TARGET_MS = 50.0


def _median(client, path, headers, rounds, warmup):
    times = []
    for index in range(warmup + rounds):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        if index >= warmup:
            times.append(elapsed)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def run(directory, jobs=1_000_000, rounds=20, warmup=3):
    import jobsapi

    database = directory / f"scrape-{jobs}.db"
    shutil.copyfile(bigdb.cached(jobs), database)
    app = jobsapi.create_app({"JOBSAPI_DATABASE": str(database),
                              "JOBSAPI_METRICS_PUBLIC": True})
    client = app.test_client()
    login = client.post("/api/auth/login", json={"username": "admin",
                                                 "password": common.ADMIN_PASSWORD})
    admin = {"Authorization": f"Bearer {login.get_json()['accessToken']}"}
    figures = {"jobs": jobs, "rounds": rounds, "target_ms": TARGET_MS}
    figures["metrics"] = _median(client, "/metrics", {}, rounds, warmup)
    figures["stats"] = _median(client, "/jobs/stats", admin, rounds, warmup)
    return figures


if __name__ == "__main__":
    import pathlib
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as tmp:
        print(run(pathlib.Path(tmp)))
