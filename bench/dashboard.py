"""The dashboard at a million jobs: the median time of a page of the work job list
(newest first, by status, by model and status, a page deep in the table, a client's
own) and of the overview, each request through the whole app (session, CSRF-free GET,
rendering), against the target of 100 ms for a page of the list.

The app runs in process on a copy of bench/bigdb.py's cached database, as the scrape
section does; the admin and a client sign in through the dashboard's form.
"""

import re
import shutil
import statistics
import time

from . import bigdb, common

TARGET_MS = 100.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROW = re.compile(r'<tr data-job="([0-9a-f]{24})">')
LIST_PAGES = {
    "newest": "/dashboard/jobs",
    "status": "/dashboard/jobs?status=ERROR_PROCESSING",
    "model+status": "/dashboard/jobs?model=gpt-4o&status=CONSUMED",
    "deep page": None,  # newest first after an id half-way through the table
}


def _sign_in(app, username, password):
    client = app.test_client()
    token = CSRF.search(client.get("/dashboard/login").get_data(as_text=True)).group(1)
    response = client.post("/dashboard/login", data={
        "username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def _median(client, path, rounds, warmup, rows=True):
    times, length = [], 0
    for index in range(warmup + rounds):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        if index >= warmup:
            times.append(elapsed)
        length = len(ROW.findall(response.get_data(as_text=True)))
    figures = {"path": path, "median_ms": round(statistics.median(times), 1),
               "max_ms": round(max(times), 1)}
    if rows:
        figures["rows"] = length
    return figures


def run(directory, jobs=1_000_000, rounds=20, warmup=3):
    import jobsapi
    from jobsapi.models import Job

    database = directory / f"dashboard-{jobs}.db"
    shutil.copyfile(bigdb.cached(jobs), database)
    app = jobsapi.create_app({"JOBSAPI_DATABASE": str(database)})
    admin = _sign_in(app, "admin", common.ADMIN_PASSWORD)
    client = _sign_in(app, bigdb.CLIENTS[0], common.CLIENT_PASSWORD)
    with app.app_context(), app.extensions["jobsapi.db"].connection_context():
        ids = Job.select(Job.id).order_by(Job.id)
        middle = ids.offset(jobs // 2).limit(1).scalar()
    pages = dict(LIST_PAGES, **{"deep page": f"/dashboard/jobs?after={middle}"})
    figures = {"jobs": jobs, "rounds": rounds, "target_ms": TARGET_MS, "list": {
        name: _median(admin, path, rounds, warmup) for name, path in pages.items()}}
    figures["list"]["client"] = _median(client, "/dashboard/jobs", rounds, warmup)
    figures["overview"] = _median(admin, "/dashboard/", rounds, warmup, rows=False)
    return figures


if __name__ == "__main__":
    import pathlib
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as tmp:
        print(run(pathlib.Path(tmp)))
