"""A load-test worker, standard library only: claim from the servers in turn, work each job
for a few milliseconds, complete it; log every claim and outcome as a JSON line.

    python tests/load_worker.py --key jak_... --worker-id w1 --log w1.jsonl URL [URL ...]

SIGTERM stops it between claims, once the jobs it holds are reported.
Each line is written with one write() on an O_APPEND file, so a SIGKILL leaves whole lines.
A claim line lists (job id, attempt, SHA-256 of the lease token, lease expiry); an outcome
line names the job, the attempt and the response status (0 when no response came).
"""

import argparse
import hashlib
import itertools
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request


class Log:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record):
        os.write(self.fd, (json.dumps(record) + "\n").encode())


def post(url, key, body, timeout):
    """POST a JSON body: (status, parsed body or None); status 0 when no response came."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")[:300]
    except OSError as error:
        return 0, repr(error)


def run(servers, key, worker_id, log, limit, lease_seconds, wait_seconds, work_seconds,
        stopping):
    for server in itertools.cycle(servers):
        if stopping.is_set():
            return
        status, body = post(f"{server}/jobs/claim", key,
                            {"workerId": worker_id, "limit": limit,
                             "leaseSeconds": lease_seconds, "waitSeconds": wait_seconds},
                            timeout=wait_seconds + 30)
        jobs = body["jobs"] if status == 200 else []
        log.write(event="claim", worker=worker_id, server=server, status=status,
                  t=time.time(), error=None if status == 200 else body,
                  jobs=[[job["jobId"], job["attempt"],
                         hashlib.sha256(job["lease"]["token"].encode()).hexdigest()[:16],
                         job["lease"]["expiresAt"]] for job in jobs])
        if status != 200 or not jobs:
            time.sleep(0.05)  # nothing due, or too many claims waiting: a short pause
            continue
        for job in jobs:
            time.sleep(work_seconds)  # the work
            status, answer = post(f"{server}/jobs/{job['jobId']}/complete", key,
                                  {"leaseToken": job["lease"]["token"],
                                   "responseData": {"worker": worker_id}}, timeout=30)
            log.write(event="complete", worker=worker_id, server=server, job=job["jobId"],
                      attempt=job["attempt"], status=status, t=time.time(),
                      error=None if status == 200 else answer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("servers", nargs="+", help="base URLs, used in turn")
    parser.add_argument("--key", required=True, help="an API key with jobs.work")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--log", required=True, help="the JSON-lines log to append to")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--lease-seconds", type=int, default=10)
    parser.add_argument("--wait-seconds", type=int, default=1)
    parser.add_argument("--work-ms", type=float, default=3.0)
    args = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    run(args.servers, args.key, args.worker_id, Log(args.log), args.limit, args.lease_seconds,
        args.wait_seconds, args.work_ms / 1000, stopping)


if __name__ == "__main__":
    main()
