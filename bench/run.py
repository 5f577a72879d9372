"""`make bench`: run the benchmarks, print one table, write the same figures as JSON.

    python -m bench.run --out var/bench.json [--quick]
                        [--only service,list,scrape,dashboard,idle,lateness,workers,postgresql]
                        [--profile] [--batches N] [--read-seconds S] ...

Every figure is measured side by side with its reference in the same run: only the
ratios count on a noisy machine. Nothing here fails on speed; the exit status is 1 only
when a benchmark could not run.
"""

import argparse
import datetime as dt
import os
import pathlib
import shutil
import sys
import tempfile
import time
import traceback

from . import (batches, common, dashboard, listing, loadgen, metrics_scrape, postgresql,
               profile, reads, report, sched_idle, sched_lateness, workers)

SECTIONS = ("service", "list", "scrape", "dashboard", "idle", "lateness", "workers",
            "postgresql")
# name: (full run, --quick)
DEFAULTS = {
    "batches": (20, 3),
    "batch_size": (1000, 1000),
    "read_seconds": (15.0, 3.0),
    "warmup_seconds": (2.0, 1.0),
    "connections": (16, 16),
    "list_requests": (200, 30),
    "small_jobs": (1000, 1000),
    "big_jobs": (1_000_000, 100_000),
    "idle_jobs": (1000, 1000),
    "idle_seconds": (60.0, 5.0),
    "lateness_jobs": (100, 100),
    "lateness_seconds": (20.0, 5.0),
    "settle_seconds": (3.0, 2.0),
    "worker_jobs": (2000, 500),
    "worker_threads": (4, 4),
    "latency_samples": (200, 50),
    "latency_other_samples": (50, 10),
    "scale_seconds": (15.0, 3.0),  # postgresql: reads on one instance, then on two
}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT", "var/bench.json"),
                        help="where to write the JSON (default: $BENCH_OUT or var/bench.json)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                        help="short runs for development (also BENCH_QUICK=1)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy during ingest, update and reads "
                             "(var/bench/profile/); it slows the server, so figures of a "
                             "profiled run are not comparable")
    parser.add_argument("--keep", action="store_true", help="keep the run's databases and logs")
    for name in DEFAULTS:
        kind = type(DEFAULTS[name][0])
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                            help=f"default {DEFAULTS[name][0]} ({DEFAULTS[name][1]} with --quick);"
                                 f" env BENCH_{name.upper()}")
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            env = os.environ.get(f"BENCH_{name.upper()}")
            kind = type(full)
            setattr(args, name, kind(env) if env else (quick if args.quick else full))
    args.only = [section.strip() for section in args.only.split(",") if section.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def run_service(args, directory, results):
    """Ingest, update and reads on one server, then the floor and the reads reference."""
    profiler = None
    server = common.service(directory / "service", directory / "service" / "jobs.db")
    with server:
        token, client_id = common.create_client(server.port, "bench-client")
        if args.profile:
            profiler = profile.Profiler(server.pid, common.WORK / "profile")
        figures = batches.run(server, token, client_id, directory, args.batches,
                              args.batch_size, profiler)
        job_ids = figures.pop("job_ids")
        results["batches"] = figures
        results["reads"] = reads.run(server, token, job_ids, directory / "reference",
                                     args.read_seconds, args.connections, args.warmup_seconds,
                                     profiler)
        results["reads"]["connections"] = args.connections
    if profiler:
        results["profile"] = profiler.summaries


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    common.WORK.mkdir(parents=True, exist_ok=True)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=common.WORK))
    machine = report.machine()
    print(f"jobsapi bench{' (--quick)' if args.quick else ''}: {machine['nproc']} cores, "
          f"{machine['cpu_model']}, Python {machine['python']}, load average "
          f"{' '.join(f'{n:.2f}' for n in machine['loadavg_at_start'])}", flush=True)
    print(f"load generator: {loadgen.DESCRIPTION}", flush=True)
    started = time.monotonic()
    results, errors = {}, {}
    steps = {
        "service": lambda: run_service(args, directory, results),
        "list": lambda: results.__setitem__("list", listing.run(
            directory, args.small_jobs, args.big_jobs, args.list_requests, 10)),
        "scrape": lambda: results.__setitem__("scrape", metrics_scrape.run(
            directory, args.big_jobs)),
        "dashboard": lambda: results.__setitem__("dashboard", dashboard.run(
            directory, args.big_jobs)),
        "idle": lambda: results.__setitem__("idle", sched_idle.run(
            directory, args.idle_jobs, args.idle_seconds, args.settle_seconds)),
        "lateness": lambda: results.__setitem__("lateness", sched_lateness.run(
            directory, args.lateness_jobs, args.lateness_seconds, args.settle_seconds)),
        "workers": lambda: results.__setitem__("workers", workers.run(
            directory, args.worker_jobs, args.worker_threads, args.latency_samples,
            args.latency_other_samples)),
        "postgresql": lambda: postgresql.run(args, directory,
                                             results.setdefault("postgresql", {})),
    }
    try:
        for section in SECTIONS:
            if section not in args.only:
                continue
            print(f"[{time.monotonic() - started:6.1f}s] {section} ...", flush=True)
            try:
                steps[section]()
            except Exception:
                errors[section] = traceback.format_exc()
                print(f"{section} failed:\n{errors[section]}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    machine["loadavg_at_end"] = os.getloadavg()
    rows = report.figures(results)
    print()
    print(report.table(rows))
    if results.get("profile"):
        print()
        print("\n".join(profile.report(results["profile"])))
    report.write_json(args.out, {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "load_generator": loadgen.DESCRIPTION,
        "settings": {name: getattr(args, name) for name in DEFAULTS} | {
            "quick": args.quick, "sections": args.only, "profiled": args.profile},
        "figures": rows,
        "details": results,
        "errors": errors,
        "seconds": time.monotonic() - started,
    })
    print(f"\nwrote {args.out} ({time.monotonic() - started:.0f} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
