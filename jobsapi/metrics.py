"""Prometheus metrics: each app's registry (app.extensions["jobsapi.metrics"]), the
figures counted in this process, and the hooks that count requests, claims, outcomes and
scheduled runs. The families read from the database are in dbmetrics.py."""

import logging
import os
import socket
import time
import weakref

from flask import current_app, g, has_app_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from . import database, signals
from .dbmetrics import DatabaseCollector

log = logging.getLogger("jobsapi.work")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus version reads
# processingMetrics keys a worker reports -> the `kind` label of jobsapi_llm_tokens_total
TOKEN_KINDS = {"inputTokens": "input", "outputTokens": "output", "totalTokens": "total"}
JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600,
               86400)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)  # claims wait <= 25 s
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)

# Each database's app metrics, for the signals sent outside a request (the reap-leases
# task runs in the scheduler's threads, with the models bound to the app's database).
_by_database = weakref.WeakKeyDictionary()


def instance():
    """This process as the `instance` label: host:pid. Counters are per process; the
    label keeps the series of several processes (or restarts) apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Metrics:
    """One app's registry and the families it counts in process."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.instance = instance()

        def counter(name, doc, labels):
            return Counter(name, doc, [*labels, "instance"], registry=self.registry)

        def histogram(name, doc, labels, buckets=HTTP_BUCKETS):
            return Histogram(name, doc, [*labels, "instance"], buckets=buckets,
                             registry=self.registry)

        self.requests = counter("jobsapi_http_requests_total", "HTTP requests answered.",
                                ["method", "route", "status"])
        self.request_seconds = histogram("jobsapi_http_request_duration_seconds",
                                         "Time to answer an HTTP request.", ["method", "route"])
        self.claims = counter("jobsapi_job_claims_total", "Jobs handed to workers.", ["model"])
        self.outcomes = counter("jobsapi_job_outcomes_total",
                                "Attempts ended, by how they ended.", ["model", "outcome"])
        self.wait_seconds = histogram("jobsapi_job_wait_seconds",
                                      "From a job's creation to its first claim.", ["model"],
                                      JOB_BUCKETS)
        self.run_seconds = histogram("jobsapi_job_run_seconds",
                                     "From a claim to its attempt's outcome.", ["model"],
                                     JOB_BUCKETS)
        self.tokens = counter("jobsapi_llm_tokens_total",
                              "Tokens workers reported in processingMetrics.", ["model", "kind"])
        self.scheduled_runs = counter("jobsapi_scheduled_runs_total",
                                      "Scheduled-task runs ended here, by result.",
                                      ["job", "result"])
        self.scheduled_seconds = histogram("jobsapi_scheduled_run_seconds",
                                           "How long scheduled-task runs took.", ["job"],
                                           RUN_BUCKETS)
        self.db_busy = counter("jobsapi_db_busy_total",
                               "Requests answered 503 because the database stayed busy.", [])
        self.db_busy.labels(self.instance)  # present at 0 from the start

    def render(self):
        return generate_latest(self.registry)

    def request_answered(self, method, route, status, seconds):
        self.requests.labels(method, route, str(status), self.instance).inc()
        self.request_seconds.labels(method, route, self.instance).observe(seconds)

    def job_claimed(self, job, attempt):
        self.claims.labels(job.model, self.instance).inc()
        if attempt == 1:
            waited = _seconds(job.created_at, job.updated_at)  # updated_at: the claim's time
            if waited is not None:
                self.wait_seconds.labels(job.model, self.instance).observe(waited)

    def attempt_ended(self, job, outcome, attempt):
        self.outcomes.labels(job.model, outcome, self.instance).inc()
        ran = _seconds(attempt.claimed_at, attempt.ended_at)
        if ran is not None:
            self.run_seconds.labels(job.model, self.instance).observe(ran)
        if outcome == "processed" and isinstance(job.processing_metrics, dict):
            for key, kind in TOKEN_KINDS.items():
                value = job.processing_metrics.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                    self.tokens.labels(job.model, kind, self.instance).inc(value)

    def scheduled_run_ended(self, run, result, duration_ms):
        self.scheduled_runs.labels(run.job_id, result, self.instance).inc()
        self.scheduled_seconds.labels(run.job_id, self.instance).observe(duration_ms / 1000)

    def database_busy(self):
        self.db_busy.labels(self.instance).inc()


def init_app(app):
    """Give the app its Metrics, with the database-read families, and count its requests,
    its jobs' claims and outcomes, and its scheduler's runs."""
    metrics = Metrics()
    metrics.registry.register(DatabaseCollector(app))
    app.extensions["jobsapi.metrics"] = metrics
    _by_database[app.extensions["jobsapi.db"]] = metrics
    signals.jobs_claimed.connect(jobs_claimed)
    signals.attempt_ended.connect(attempt_ended)
    scheduler = app.extensions.get("jobsapi.scheduler")
    if scheduler is not None:
        scheduler.run_listeners.append(metrics.scheduled_run_ended)
    app.before_request(start_timer)
    app.after_request(count_request)


def current():
    """The Metrics of the app whose database the calling thread uses, or None."""
    if has_app_context():
        return current_app.extensions.get("jobsapi.metrics")
    return _by_database.get(database.current())


def start_timer():
    g.jobsapi_started = time.perf_counter()


def count_request(response):
    metrics = current_app.extensions["jobsapi.metrics"]
    started = g.get("jobsapi_started")
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    elapsed = 0.0 if started is None else time.perf_counter() - started
    metrics.request_answered(request.method, route, response.status_code, elapsed)
    return response


def count_db_busy():
    metrics = current()
    if metrics is not None:
        metrics.database_busy()


def jobs_claimed(user, claimed, worker_id):
    """Count and log each claim (receivers must not fail: a claim stays a claim)."""
    try:
        metrics = current()
        for item in claimed:
            if metrics is not None:
                metrics.job_claimed(item.job, item.attempt)
            log.info("job %s claimed by %s (attempt %d)", item.job.id, worker_id, item.attempt,
                     extra={"job_id": item.job.id, "worker_id": worker_id,
                            "attempt": item.attempt, "model": item.job.model})
    except Exception:
        log.exception("counting a claim failed")


def attempt_ended(job, outcome, attempt):
    """Count and log an attempt's end."""
    try:
        metrics = current()
        if metrics is not None:
            metrics.attempt_ended(job, outcome, attempt)
        log.info("job %s attempt %d ended: %s", job.id, attempt.attempt, outcome,
                 extra={"job_id": job.id, "worker_id": attempt.worker_id,
                        "attempt": attempt.attempt, "outcome": outcome, "model": job.model})
    except Exception:
        log.exception("counting an attempt's end failed")


def _seconds(start, end):
    if start is None or end is None or isinstance(start, str) or isinstance(end, str):
        return None
    return max((end - start).total_seconds(), 0.0)
