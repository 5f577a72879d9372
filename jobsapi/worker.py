"""The worker program: claims work jobs over HTTP, runs a handler on each, reports back.

Standard library only: copied with workerclient.py to a machine without the server's
dependencies, it runs as `python3 worker.py --url URL --handler module:function`.
"""

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time

if __package__:
    from .workerclient import (HTTP_TIMEOUT, Backoff, Client, Permanent, Refused, Result, Retry,
                               Unavailable, outcome)
else:  # run as a file, next to a copy of workerclient.py
    from workerclient import (HTTP_TIMEOUT, Backoff, Client, Permanent, Refused, Result, Retry,
                              Unavailable, outcome)

__all__ = ["Permanent", "Result", "Retry", "Worker", "main"]  # what handlers and embedders use

log = logging.getLogger("jobsapi.worker")

MAX_JOBS = 100  # jobs in one claim or heartbeat, the server's bound
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
DONE = {"complete": "completed", "fail": "failed", "release": "released"}


class Lease:
    """A claimed job while this worker holds it."""

    def __init__(self, job, seconds):
        self.job, self.job_id, self.token = job, job["jobId"], job["lease"]["token"]
        self.state = "running"  # then "reporting", "released" or "lost"
        self.deadline = time.monotonic() + seconds
        self.cancel_requested = False


class Worker:
    """Claims up to `concurrency` jobs at a time, runs each in a thread, heartbeats them."""

    def __init__(self, client, handler, worker_id, concurrency=1, lease_seconds=60,
                 idle_wait=20, models=None, operations=None):
        self.client, self.handler, self.concurrency = client, handler, concurrency
        self.lease_seconds, self.idle_wait = lease_seconds, idle_wait
        self.claim_body = {"workerId": worker_id, "leaseSeconds": lease_seconds}
        self.claim_body.update({key: value for key, value in
                                (("models", models), ("operations", operations)) if value})
        self.leases = {}  # jobId -> Lease, until its thread is done with it
        self.reports = 0  # outcomes and releases being sent
        self.changed = threading.Condition()  # guards `leases`, their states and `reports`
        self.stopping = threading.Event()

    def run(self):
        """Claim and work until stopped, then release what is unfinished; the exit status."""
        log.info("worker %s: started, %d at a time", self.claim_body["workerId"],
                 self.concurrency)
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        status = self._claim()
        self.stop()  # also releases what the last claim brought in while stopping
        with self.changed:  # outcomes and releases other threads are sending
            self.changed.wait_for(lambda: self.reports == 0, timeout=HTTP_TIMEOUT * 2)
        log.info("worker %s: stopped", self.claim_body["workerId"])
        return status

    def stop(self):
        """Claim no more and release every job whose handler has not finished."""
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
            unfinished = [lease for lease in self.leases.values() if lease.state == "running"]
            for lease in unfinished:
                lease.state = "released"
            self.reports += len(unfinished)
        for lease in unfinished:
            self._report(lease, "release", {})

    def _claim(self):
        backoff, wait = Backoff(), 0
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.stopping.is_set()
                                      or len(self.leases) < self.concurrency)
                free = self.concurrency - len(self.leases)
            if self.stopping.is_set():
                return 0
            body = dict(self.claim_body, limit=free, waitSeconds=wait)
            try:
                answer, retry_after = self.client.post("/jobs/claim", body,
                                                       timeout=wait + HTTP_TIMEOUT)
            except Unavailable as error:
                self.stopping.wait(backoff.delay(error.retry_after))
                continue
            except Refused as error:
                log.error("claim refused (%s): stopping", error)
                return 1
            backoff = Backoff()
            for job in answer["jobs"]:
                self._start(Lease(job, self.lease_seconds))
            wait = 0 if answer["jobs"] else self.idle_wait
            if not answer["jobs"] and retry_after:
                self.stopping.wait(retry_after)  # too many claims were waiting

    def _start(self, lease):
        with self.changed:
            self.leases[lease.job_id] = lease
            if self.stopping.is_set():
                return  # released by stop() with the rest
        threading.Thread(target=self._work, args=(lease,), name=f"job-{lease.job_id}",
                         daemon=True).start()

    def _work(self, lease):
        route, body = outcome(self.handler, lease.job)
        with self.changed:
            reporting = lease.state == "running"
            if reporting:
                lease.state = "reporting"
                self.reports += 1
            else:  # the lease is lost or released: the outcome is nobody's
                self.leases.pop(lease.job_id, None)
                self.changed.notify_all()
        if reporting:
            self._report(lease, route, body)

    def _report(self, lease, route, body):
        """Send an outcome or a release (counted in `reports` by the caller), then forget
        the lease."""
        try:
            self._send(lease, route, body)
        finally:
            with self.changed:
                self.reports -= 1
                self.leases.pop(lease.job_id, None)
                self.changed.notify_all()

    def _send(self, lease, route, body):
        """POST to the lease's job; retry while the server is unavailable and the lease lasts."""
        backoff = Backoff()
        while True:
            try:
                self.client.post(f"/jobs/{lease.job_id}/{route}",
                                 dict(body, leaseToken=lease.token))
            except Unavailable as error:
                if self.stopping.is_set() or time.monotonic() >= lease.deadline:
                    log.warning("job %s: %s not reported: server unavailable",
                                lease.job_id, route)
                    return
                self.stopping.wait(backoff.delay(error.retry_after))
                continue
            except Refused as error:
                if error.status == 409:
                    log.warning("job %s: lease lost, %s not reported", lease.job_id, route)
                elif route == "complete":  # e.g. a response too large: fail the job instead
                    route, body = "fail", {"error": {
                        "type": "ResultRefused", "retryable": False,
                        "message": f"the server refused the handler's result ({error})"}}
                    continue
                else:
                    log.error("job %s: %s refused (%s)", lease.job_id, route, error)
                return
            error = body.get("error")
            log.info("job %s: %s%s", lease.job_id, DONE[route],
                     f" ({error['type']}: {error['message']})" if error else "")
            return

    def _heartbeat(self):
        interval = self.lease_seconds / 3
        while not self.stopping.wait(interval):
            with self.changed:
                held = {lease.job_id: lease for lease in self.leases.values()
                        if lease.state in ("running", "reporting")}
            if not held:
                continue
            body = {"leases": [{"jobId": job_id, "leaseToken": lease.token}
                               for job_id, lease in held.items()],
                    "leaseSeconds": self.lease_seconds}
            sent = time.monotonic()
            try:
                answer, _ = self.client.post("/jobs/heartbeat", body, timeout=interval)
            except Unavailable:
                continue  # the client logs the outage; the next beat may renew in time
            except Refused as error:
                log.warning("heartbeat refused (%s)", error)
                continue
            for item in answer["leases"]:
                self._renewed(held.get(item["jobId"]), item, sent)

    def _renewed(self, lease, item, sent):
        if lease is None:
            return
        if not item["ok"]:
            with self.changed:
                if lease.state == "running":
                    lease.state = "lost"
                    log.warning("job %s: lease lost; its outcome will not be reported",
                                lease.job_id)
            return
        lease.deadline = sent + self.lease_seconds
        if item.get("cancelRequested") and not lease.cancel_requested:
            lease.cancel_requested = True
            log.info("job %s: cancel requested; the server cancels it on any outcome",
                     lease.job_id)


def load_handler(spec):
    """`package.module:function`, imported with the current directory on sys.path."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"{spec!r}: use package.module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    handler = getattr(importlib.import_module(module_name), name)
    if not callable(handler):
        raise ValueError(f"{spec!r} is not callable")
    return handler


def _bounded(low, high):
    def parse(text):
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=os.environ.get("JOBSAPI_API_KEY"),
                        help="an API key of a user with jobs.work (default: $JOBSAPI_API_KEY, "
                             "which keeps the key out of the process list)")
    parser.add_argument("--handler", required=True, help="package.module:function")
    parser.add_argument("--concurrency", type=_bounded(1, MAX_JOBS), default=1,
                        help=f"jobs run at once, up to {MAX_JOBS} (default: 1)")
    parser.add_argument("--models", type=_names, help="claim only these models: m1,m2")
    parser.add_argument("--operations", type=_names, help="claim only these operations")
    parser.add_argument("--lease", type=_bounded(10, 3600), default=60,
                        help="lease seconds, renewed every third of it (default: 60)")
    parser.add_argument("--wait", type=_bounded(0, 25), default=20,
                        help="seconds a claim waits on the server when no job is due; "
                             "a stop waits for it to end (default: 20)")
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}",
                        help="the name claims carry (default: hostname-pid)")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is required: --api-key or JOBSAPI_API_KEY")
    try:
        args.handler = load_handler(args.handler)
    except (ImportError, AttributeError, ValueError) as error:
        parser.error(f"--handler: {error}")
    return args


def stop_on_signal(worker):
    """Wait for SIGTERM or SIGINT, then stop the worker. Taken here, in a thread of its
    own, the signal needs no handler: a handler would run inside the main thread, which
    may hold the very lock stopping takes."""
    signum = signal.sigwait(STOP_SIGNALS)
    log.info("%s received: releasing unfinished jobs", signal.Signals(signum).name)
    worker.stop()


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # before any thread starts
    worker = Worker(Client(args.url, args.api_key), args.handler, args.worker_id,
                    args.concurrency, args.lease, args.wait, args.models, args.operations)
    threading.Thread(target=stop_on_signal, args=(worker,), name="signals", daemon=True).start()
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
