"""Reads: GET /jobs/<jobId> with a token over 16 connections, against a minimal Flask
route and a textbook flask-smorest + peewee app on the same waitress settings. The
servers run at once and take turns under load, so that all meet the same machine noise."""

import contextlib
import random
import sys

from . import common, loadgen
from .profile import Phase

ROUNDS = 3


def _requests(job_ids, token):
    ids = random.Random(5).sample(job_ids, min(len(job_ids), 2000))
    requests = [loadgen.http_request("GET", f"/jobs/{job_id}", token=token) for job_id in ids]
    return lambda i: requests[i % len(requests)]


class _Side:
    def __init__(self, server, make):
        self.server, self.make = server, make
        self.count = self.elapsed = self.client_cpu = self.server_cpu = 0.0
        self.latencies, self.statuses = [], {}

    def load(self, connections, seconds):
        cpu = common.proc_cpu(self.server.pid)
        result = loadgen.load(self.server.port, self.make, connections=connections,
                              duration=seconds)
        self.server_cpu += common.proc_cpu(self.server.pid) - cpu
        if result.errors or not result.count:
            raise RuntimeError(f"GET /jobs/<jobId>: unexpected statuses {dict(result.statuses)}")
        self.count += result.count
        self.elapsed += result.elapsed
        self.client_cpu += result.client_cpu
        self.latencies.extend(result.latencies)

    def figures(self):
        ordered = sorted(self.latencies)
        return {
            "requests_per_s": self.count / self.elapsed,
            "requests": int(self.count),
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000,
            "server_cpu_share": self.server_cpu / self.elapsed,
            "client_cpu_share": self.client_cpu / self.elapsed,
        }


def run(server, token, job_ids, directory, seconds, connections, warmup, profiler=None,
        textbook=True):
    """The service (already running) and the reference, `seconds` each in ROUNDS turns;
    the textbook peer too unless `textbook` is false (it reads the service's SQLite file)."""
    from jobsapi.config import from_env

    threads = from_env()["JOBSAPI_THREADS"]
    reference = common.Server([sys.executable, "-m", "bench.minimal_app", "{port}", threads],
                              directory)
    peers = [reference]
    if textbook:
        peers.append(common.Server([sys.executable, "-m", "bench.textbook_app", "{port}",
                                    threads, server.database], directory))
    with contextlib.ExitStack() as stack:
        for peer in peers:
            stack.enter_context(peer)
        sides = {"service": _Side(server, _requests(job_ids, token)),
                 "reference": _Side(reference, _requests(job_ids, None))}
        if textbook:
            sides["textbook"] = _Side(peers[1], _requests(job_ids, token))
        for side in sides.values():
            loadgen.load(side.server.port, side.make, connections=connections, duration=warmup)
        for _ in range(ROUNDS):
            for name, side in sides.items():
                with Phase(profiler if name == "service" else None, "reads"):
                    side.load(connections, seconds / ROUNDS)
    return {name: side.figures() for name, side in sides.items()}
