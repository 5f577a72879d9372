"""The service on PostgreSQL: the SQLite figures again with the server on a throwaway cluster
(bench/pgcluster.py), reads on two instances against one, and workers beside Procrastinate.

Each part has a database of its own on the one cluster:
- ingest and update against a floor of psycopg executemany on the same server, reads
  against the bare Flask route (bench/batches.py, bench/reads.py);
- the same reads load on one instance, then spread over two instances on the same
  database, in alternating rounds (the load generator's connections taken in turn);
- list at 1,000 and at a million jobs, the rows of bench/bigdb.py written with COPY
  (bench/listing.py);
- workers beside Procrastinate (bench/pgworkers.py).
"""

import os

from . import batches, common, listing, loadgen, pgcluster, pgdata, pgworkers, reads

SECRET_KEY = "bench-secret-key-shared-by-every-instance-0123456789"
ENV = {"JOBSAPI_SECRET_KEY": SECRET_KEY}
ROUNDS = 3


def postgres_cpu(cluster):
    """CPU seconds used so far by the cluster's postmaster and its live children."""
    with open(cluster.directory / "data" / "postmaster.pid") as pid_file:
        postmaster = int(pid_file.readline())
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process has gone
        if int(name) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / common.CLOCK_TICKS
    return total


class _Side:
    """Reads on some instances, accumulated over rounds, with everyone's CPU share."""

    def __init__(self, servers, make, cluster):
        self.servers, self.make, self.cluster = servers, make, cluster
        self.count = self.elapsed = self.client = self.server = self.postgres = 0.0

    def load(self, connections, seconds):
        server = sum(common.proc_cpu(s.pid) for s in self.servers)
        postgres = postgres_cpu(self.cluster)
        result = loadgen.load([s.port for s in self.servers], self.make,
                              connections=connections, duration=seconds)
        if result.errors or not result.count:
            raise RuntimeError(f"GET /jobs/<jobId>: unexpected statuses {dict(result.statuses)}")
        self.server += sum(common.proc_cpu(s.pid) for s in self.servers) - server
        self.postgres += postgres_cpu(self.cluster) - postgres
        self.count += result.count
        self.elapsed += result.elapsed
        self.client += result.client_cpu

    def figures(self):
        return {"instances": len(self.servers), "requests": int(self.count),
                "requests_per_s": self.count / self.elapsed,
                "server_cpu_share": self.server / self.elapsed,
                "postgres_cpu_share": self.postgres / self.elapsed,
                "client_cpu_share": self.client / self.elapsed}


def scale_out(cluster, first, second, token, job_ids, seconds, connections, warmup):
    """The reads load on `first` alone, then over `first` and `second`, in ROUNDS turns."""
    make = reads._requests(job_ids, token)
    sides = {"one": _Side([first], make, cluster), "two": _Side([first, second], make, cluster)}
    for side in sides.values():
        loadgen.load([s.port for s in side.servers], make, connections=connections,
                     duration=warmup)
    for _ in range(ROUNDS):
        for side in sides.values():
            side.load(connections, seconds / ROUNDS)
    return {name: side.figures() for name, side in sides.items()} | {
        "connections": connections}


def run_service(args, directory, cluster, results):
    """Ingest, update and reads on one instance, then reads on two."""
    url = cluster.create_database("jobsapi_service")
    first = common.service(directory / "pg-service", url, **ENV)
    with first:
        token, client_id = common.create_client(first.port, "bench-client")
        floor = pgdata.Floor(cluster.create_database("floor"))
        figures = batches.run(first, token, client_id, directory, args.batches,
                              args.batch_size, floor=floor, job_ids=pgdata.client_job_ids)
        job_ids = figures.pop("job_ids")
        results["batches"] = figures
        results["reads"] = reads.run(first, token, job_ids, directory / "pg-reference",
                                     args.read_seconds, args.connections, args.warmup_seconds,
                                     textbook=False)
        results["reads"]["connections"] = args.connections
        with common.service(directory / "pg-second", url, **ENV) as second:
            results["scale"] = scale_out(cluster, first, second, token, job_ids,
                                         args.scale_seconds, args.connections,
                                         args.warmup_seconds)


def list_servers(cluster):
    """How bench/listing.py starts a server of `jobs` jobs here: a database filled first."""

    def start(directory, jobs):
        url = cluster.create_database(f"jobsapi_list_{jobs}")
        size = pgdata.fill(url, jobs)
        server = common.service(directory / f"pg-list-{jobs}", url, **ENV).start()
        server.jobs, server.database_bytes = jobs, size
        return server

    return start


def run(args, directory, results):
    """Every part on one throwaway cluster; `results` filled as each part ends."""
    if not pgcluster.available():
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): "
                           "apt-get install postgresql")
    with pgcluster.Cluster() as cluster:
        results["cluster"] = cluster.settings() | {"durability": pgcluster.DURABILITY}
        run_service(args, directory, cluster, results)
        results["list"] = listing.run(directory, args.small_jobs, args.big_jobs,
                                      args.list_requests, 10, start=list_servers(cluster))
        results["workers"] = pgworkers.run(directory, cluster, ENV, args.worker_jobs,
                                           args.worker_threads, args.latency_samples,
                                           args.latency_other_samples)
    return results
