"""Batch ingest and batch update through the service, against their floor.

The floor does only what no implementation can avoid: decode the request JSON, write
the same rows with sqlite3 executemany in one transaction (the service's pragmas, a
database made from schema.sql), and encode the same response JSON. Service and floor take
turns, a few batches each, and each side's figure is its median batch.
"""

import datetime as dt
import json
import os
import sqlite3
import statistics
import time

from . import common, loadgen, payloads
from .profile import Phase

INSERT_COLUMNS = ("id", "client_id", "status", "operation", "prompts", "model", "temperature",
                  "priority", "request_data", "client_reference", "created_at", "updated_at",
                  "available_at", "max_attempts")
INSERT = (f"INSERT INTO jobs ({', '.join(INSERT_COLUMNS)}) "
          f"VALUES ({', '.join('?' * len(INSERT_COLUMNS))})")
UPDATE = "UPDATE jobs SET status = ?, priority = ?, updated_at = ? WHERE id = ?"
ROUND = 5  # batches per side before the other side takes its turn


def _utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(" ")


def _compact(value):
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class FloorIds:
    """Time-ordered 24-hex ids, as cheap as they can be made."""

    def __init__(self):
        self.random = os.urandom(5).hex()
        self.counter = 0

    def __call__(self):
        self.counter += 1
        return f"{int(time.time()):08x}{self.random}{self.counter & 0xFFFFFF:06x}"


class Floor:
    """The same writes with sqlite3 on a database of its own, plus the JSON work."""

    def __init__(self, path):
        self.connection = common.sqlite_connect(path)
        self.connection.executescript(_schema())
        self.connection.execute(
            "INSERT INTO users (username, password_hash, role, created_at) "
            "VALUES ('floor', 'x', 'client', ?)", (_utcnow(),))
        self.client_id = self.connection.execute("SELECT max(id) FROM users").fetchone()[0]
        self.new_id = FloorIds()

    def ingest(self, body, response):
        """One POST /jobs/batch's unavoidable work; `response` is the service's reply."""
        jobs = json.loads(body)["jobs"]
        stamp = _utcnow()
        rows = [
            (self.new_id(), self.client_id, "PENDING", job["operation"], _compact(job["prompts"]),
             job["model"], job.get("temperature"), job.get("priority", 500),
             _compact(job["requestData"]), _compact(job.get("clientReference")), stamp, stamp,
             stamp, job.get("maxAttempts", 5))
            for job in jobs
        ]
        self._write(INSERT, rows)
        return json.dumps(response, separators=(",", ":")).encode()

    def update(self, body, response):
        """One PATCH /jobs/batch's unavoidable work."""
        jobs = json.loads(body)["jobs"]
        stamp = _utcnow()
        self._write(UPDATE, [(job["status"], job["priority"], stamp, job["jobId"]) for job in jobs])
        return json.dumps(response, separators=(",", ":")).encode()

    def _write(self, sql, rows):
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            self.connection.executemany(sql, rows)
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def job_ids(self):
        return [row[0] for row in self.connection.execute("SELECT id FROM jobs ORDER BY id")]

    def close(self):
        self.connection.close()


def _schema():
    from jobsapi.database import SCHEMA_PATH

    return SCHEMA_PATH.read_text()


def _rounds(count, size):
    """Index ranges of `count` batches taken `size` at a time."""
    return [range(first, min(first + size, count)) for first in range(0, count, size)]


def _groups(ids, size):
    return [ids[n:n + size] for n in range(0, len(ids) - size + 1, size)]


def _side_by_side(port, method, service_bodies, floor_func, floor_bodies, response, token,
                  profiler, phase):
    """Service and floor in alternating rounds, so that both meet the same machine noise;
    per-batch seconds of each."""
    service, floor, server_cpu = [], [], 0.0
    for indexes in _rounds(len(service_bodies), ROUND):
        requests = [loadgen.http_request(method, "/jobs/batch", service_bodies[i], token)
                    for i in indexes]
        with Phase(profiler, phase):
            result = loadgen.load(port, lambda n: requests[n], count=len(requests))
        _check(result, f"{method} /jobs/batch")
        service.extend(result.latencies)
        for i in indexes:
            started = time.perf_counter()
            floor_func(floor_bodies[i], response)
            floor.append(time.perf_counter() - started)
    return service, floor


def _figures(service, floor, batch_size):
    return {
        "service_jobs_per_s": batch_size / statistics.median(service),
        "floor_jobs_per_s": batch_size / statistics.median(floor),
        "service_ms_per_batch": statistics.median(service) * 1000,
        "floor_ms_per_batch": statistics.median(floor) * 1000,
        "service_mean_jobs_per_s": batch_size * len(service) / sum(service),
        "floor_mean_jobs_per_s": batch_size * len(floor) / sum(floor),
        "batches": len(service), "batch_size": batch_size,
    }


def sqlite_job_ids(database, client_id):
    """The ids of a client's live jobs in the service's SQLite file, oldest first."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return [row[0] for row in connection.execute(
            "SELECT id FROM jobs WHERE client_id = ? AND deleted_at IS NULL ORDER BY id",
            (client_id,))]
    finally:
        connection.close()


def run(server, token, client_id, directory, batches, batch_size, profiler=None, floor=None,
        job_ids=sqlite_job_ids):
    """Ingest then update, through `server` and on the floor (SQLite's unless given);
    return the figures."""
    port = server.port
    creates = [payloads.create_batch(batch_size, seed) for seed in range(batches + 1)]
    floor = floor or Floor(directory / "floor.db")
    try:
        # Warm-up: one batch each; the service's reply is the response the floor encodes.
        warm = loadgen.load(port, lambda i: loadgen.http_request("POST", "/jobs/batch",
                                                                 creates[-1], token),
                            count=1, keep_body=True)
        _check(warm, "POST /jobs/batch (warm-up)")
        create_response, response_bytes = json.loads(warm.last_body), len(warm.last_body)
        floor.ingest(creates[-1], create_response)
        rss_before = common.proc_status(server.pid)
        peak_reset = common.reset_peak_rss(server.pid)  # else the peak is the start-up's
        cpu_before = common.proc_cpu(server.pid)
        service_ingest, floor_ingest = _side_by_side(
            port, "POST", creates[:batches], floor.ingest, creates[:batches], create_response,
            token, profiler, "ingest")
        server_cpu = common.proc_cpu(server.pid) - cpu_before
        rss_after = common.proc_status(server.pid)

        ids = job_ids(server.database, client_id)
        updates = payloads.update_rounds(_groups(ids, batch_size), batches + 1)
        floor_updates = payloads.update_rounds(_groups(floor.job_ids(), batch_size), batches + 1)
        warm = loadgen.load(port, lambda i: loadgen.http_request("PATCH", "/jobs/batch",
                                                                 updates[0], token),
                            count=1, keep_body=True)
        _check(warm, "PATCH /jobs/batch (warm-up)")
        update_response = json.loads(warm.last_body)
        floor.update(floor_updates[0], update_response)
        service_update, floor_update = _side_by_side(
            port, "PATCH", updates[1:], floor.update, floor_updates[1:], update_response,
            token, profiler, "update")
    finally:
        floor.close()

    ingest = _figures(service_ingest, floor_ingest, batch_size)
    ingest.update(
        request_bytes=len(creates[0]), response_bytes=response_bytes,
        server_cpu_s=server_cpu, server_rss_before=rss_before["VmRSS"],
        server_rss_after=rss_after["VmRSS"], server_peak_rss=rss_after["VmHWM"],
        server_peak_rss_covers="ingest only" if peak_reset else "the process's life",
    )
    update = _figures(service_update, floor_update, batch_size)
    update.update(request_bytes=len(updates[1]))
    return {"ingest": ingest, "update": update, "job_ids": ids}


def _check(result, what):
    if result.errors or not result.count:
        raise RuntimeError(f"{what}: unexpected statuses {dict(result.statuses)}")

