"""GET /metrics on a database of 1,000,000 jobs: the median time of a scrape (the
database-read families are most of it), against the target of 50 ms.

The app runs in process on a copy of bench/bigdb.py's cached database; each scrape goes
through the whole app (routing, auth skipped with JOBSAPI_METRICS_PUBLIC, rendering).
"""

import shutil
import statistics
import time

from . import bigdb

TARGET_MS = 50.0


def run(directory, jobs=1_000_000, rounds=20, warmup=3):
    import jobsapi

    database = directory / f"metrics-{jobs}.db"
    shutil.copyfile(bigdb.cached(jobs), database)
    app = jobsapi.create_app({"JOBSAPI_DATABASE": str(database),
                              "JOBSAPI_METRICS_PUBLIC": True})
    client = app.test_client()
    times = []
    for index in range(warmup + rounds):
        started = time.perf_counter()
        response = client.get("/metrics")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.get_data(as_text=True)
        if index >= warmup:
            times.append(elapsed)
    median = statistics.median(times)
    return {"jobs": jobs, "rounds": rounds, "median_ms": round(median, 1),
            "max_ms": round(max(times), 1), "target_ms": TARGET_MS,
            "met": median < TARGET_MS}


if __name__ == "__main__":
    import pathlib
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as tmp:
        print(run(pathlib.Path(tmp)))
