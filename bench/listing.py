"""List at scale: median latency of GET /jobs?limit=50 with a status filter on a database
of 1,000 jobs and one of 1,000,000, and the server's RSS on each.

Each query fills its page of 50 at both sizes, so the two differ only in the table's size:
a client listing its CONSUMED jobs (its commonest status) and an admin listing every
client's PENDING jobs (a rare status, as a worker polls for them). Both servers run at
once and take turns, so that both meet the same machine noise.
"""

import json
import shutil
import statistics

from . import bigdb, common, loadgen

QUERIES = {"client": "/jobs?limit=50&status=CONSUMED", "admin": "/jobs?limit=50&status=PENDING"}
USERS = {"client": (bigdb.CLIENTS[0], common.CLIENT_PASSWORD),
         "admin": ("admin", common.ADMIN_PASSWORD)}
ROUNDS = 5


def _start(directory, jobs):
    template = bigdb.cached(jobs)
    run_dir = directory / f"list-{jobs}"
    run_dir.mkdir(parents=True, exist_ok=True)
    database = run_dir / "jobs.db"
    shutil.copyfile(template, database)  # the cached file stays as generated
    server = common.service(run_dir, database).start()
    server.jobs, server.database_bytes = jobs, template.stat().st_size
    return server


def _measure(servers, requests, warmup):
    figures = {server.jobs: {"jobs": server.jobs, "database_bytes": server.database_bytes}
               for server in servers}
    for who, query in QUERIES.items():
        latencies, pages = {server.jobs: [] for server in servers}, {}
        made = {}
        for server in servers:
            token, _ = common.login(server.port, *USERS[who])
            made[server.jobs] = loadgen.http_request("GET", query, token=token)
            loadgen.load(server.port, lambda i, r=made[server.jobs]: r, count=warmup)
        for turn in range(ROUNDS):
            for server in servers:
                request = made[server.jobs]
                result = loadgen.load(server.port, lambda i: request,
                                      count=max(1, requests // ROUNDS), keep_body=True)
                if result.errors:
                    raise RuntimeError(f"GET {query}: unexpected statuses {dict(result.statuses)}")
                latencies[server.jobs].extend(result.latencies)
                pages[server.jobs] = len(json.loads(result.last_body))
        for server in servers:
            ordered = sorted(latencies[server.jobs])
            figures[server.jobs][who] = {
                "query": query,
                "median_ms": statistics.median(ordered) * 1000,
                "p90_ms": ordered[int(len(ordered) * 0.9)] * 1000,
                "requests": len(ordered),
                "page_length": pages[server.jobs],
            }
    for server in servers:
        status = common.proc_status(server.pid)
        figures[server.jobs].update(rss=status["VmRSS"], peak_rss=status["VmHWM"])
    return figures


def run(directory, small, big, requests, warmup, start=_start):
    """Both sizes' servers (`start(directory, jobs)`, SQLite copies unless given), measured."""
    servers = []
    try:
        for jobs in (small, big):
            servers.append(start(directory, jobs))
        figures = _measure(servers, requests, warmup)
    finally:
        for server in servers:
            server.stop()
            shutil.rmtree(server.directory, ignore_errors=True)
    return {"small": figures[small], "big": figures[big]}
