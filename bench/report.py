"""The figures of a run: one table for people, the same numbers as JSON."""

import json
import math
import os
import platform

MIB = 1024 * 1024


def figure(key, name, unit, service, reference, reference_name, ratio, ratio_meaning, target,
           met):
    return {"key": key, "figure": name, "unit": unit, "service": service, "reference": reference,
            "reference_name": reference_name, "ratio": ratio, "ratio_meaning": ratio_meaning,
            "target": target, "met": met}


def ratio(a, b):
    return a / b if b else math.inf


def figures(results):
    """The issue's table, from the raw results of whichever sections ran."""
    rows = []
    batches = results.get("batches")
    if batches:
        for key, name in (("ingest", "batch ingest, POST /jobs/batch"),
                          ("update", "batch update, PATCH /jobs/batch")):
            part = batches[key]
            times = ratio(part["floor_jobs_per_s"], part["service_jobs_per_s"])
            rows.append(figure(
                key, f"{name} x{part['batch_size']}", "jobs/s",
                part["service_jobs_per_s"], part["floor_jobs_per_s"],
                "floor: sqlite3 executemany in one transaction + JSON decode/encode",
                times, "service's time / floor's time", "<= 5x", times <= 5))
        ingest = batches["ingest"]
        rows.append(figure(
            "peak RSS", "server peak RSS during ingest", "MiB", ingest["server_peak_rss"] / MIB,
            ingest["server_rss_before"] / MIB, "server RSS before the ingest",
            ratio(ingest["server_peak_rss"], ingest["server_rss_before"]), "peak / before",
            "reported", None))
    reads = results.get("reads")
    if reads:
        share = ratio(reads["service"]["requests_per_s"], reads["reference"]["requests_per_s"])
        rows.append(figure(
            "reads", f"reads, GET /jobs/<jobId> + token, {reads['connections']} conns", "req/s",
            reads["service"]["requests_per_s"], reads["reference"]["requests_per_s"],
            "minimal Flask JSON route, same waitress settings", share,
            "service / reference", ">= 0.55", share >= 0.55))
        if "textbook" in reads:
            times = ratio(reads["service"]["requests_per_s"], reads["textbook"]["requests_per_s"])
            rows.append(figure(
                "reads vs textbook", "reads, GET /jobs/<jobId> + token, against a textbook app",
                "req/s", reads["service"]["requests_per_s"],
                reads["textbook"]["requests_per_s"],
                "flask-smorest + peewee as documented (bench/textbook_app.py)", times,
                "service / textbook", ">= 2x", times >= 2.0))
    scrape = results.get("scrape")
    if scrape:
        for key, path in (("metrics", "GET /metrics"), ("stats", "GET /jobs/stats")):
            median = scrape[key]["median_ms"]
            rows.append(figure(
                f"{key} at {scrape['jobs'] // 1000}k", f"{path} at {scrape['jobs']:,} jobs, median",
                "ms", median, scrape["target_ms"], "the target", median / scrape["target_ms"],
                "time / target", f"< {scrape['target_ms']:.0f} ms",
                median < scrape["target_ms"]))
    pages = results.get("dashboard")
    if pages:
        target = pages["target_ms"]
        for name, figures in pages["list"].items():
            median = figures["median_ms"]
            rows.append(figure(
                f"dashboard list {name}", f"dashboard job list ({name}) at {pages['jobs']:,} "
                f"jobs, median", "ms", median, target, "the target", median / target,
                "time / target", f"< {target:.0f} ms", median < target))
        median = pages["overview"]["median_ms"]
        rows.append(figure(
            "dashboard overview", f"dashboard overview at {pages['jobs']:,} jobs, median", "ms",
            median, target, "the target", median / target, "time / target", "reported", None))
    listing = results.get("list")
    if listing:
        small, big = listing["small"], listing["big"]
        for who, status in (("client", "CONSUMED"), ("admin", "PENDING")):
            grows = ratio(big[who]["median_ms"], small[who]["median_ms"])
            rows.append(figure(
                f"list {who}", f"list ?limit=50&status={status} ({who}), median",
                "ms", big[who]["median_ms"], small[who]["median_ms"],
                f"the same request at {small['jobs']:,} jobs (service at {big['jobs']:,})",
                grows, "big / small", "<= 1.5x", grows <= 1.5))
        grows = ratio(big["rss"], small["rss"])
        rows.append(figure(
            "RSS", f"server RSS with {big['jobs']:,} jobs", "MiB", big["rss"] / MIB,
            small["rss"] / MIB, f"server RSS with {small['jobs']:,} jobs", grows, "big / small",
            "<= 1.25x (no growth with the table)", grows <= 1.25))
    idle = results.get("idle")
    if idle:
        engine, aps = idle["engine"], idle["apscheduler"]
        # Both at zero (no wake-up at all in the window) is a tie, not a division by zero.
        times = 1.0 if engine["cpu_s"] == aps["cpu_s"] == 0 else ratio(engine["cpu_s"],
                                                                       aps["cpu_s"])
        rows.append(figure(
            "idle", f"scheduler idle CPU (its threads), {engine['jobs']} jobs, "
            f"{engine['window_s']:.0f} s",
            "% of a core",
            engine["core_share"] * 100, aps["core_share"] * 100,
            "APScheduler 3 BackgroundScheduler, the same 1,000 cron jobs, none due",
            times, "engine / APScheduler",
            "<= 1x and < 0.5%", times <= 1 and engine["core_share"] < 0.005))
    lateness = results.get("lateness")
    if lateness:
        engine, aps = lateness["engine"], lateness["apscheduler"]
        for key, label, target, met_also in (("p50_ms", "p50", "<= 1x", True),
                                             ("p99_ms", "p99", "<= 1x and < 50 ms",
                                              (engine["p99_ms"] or math.inf) < 50)):
            times = ratio(engine[key] or math.inf, aps[key])
            rows.append(figure(
                f"lateness {label}", f"scheduler lateness {label}, {engine['jobs']} jobs/s", "ms",
                engine[key], aps[key],
                f"APScheduler 3, {aps['jobs']} jobs on CronTrigger(second='*')", times,
                "engine / APScheduler", target, times <= 1 and met_also))
    work = results.get("workers")
    if work:
        rows.extend(_worker_figures(work))
    if results.get("postgresql"):
        rows = _beside(rows, _postgresql_figures(results["postgresql"]))
    return rows


def _beside(rows, twins):
    """`rows` with each (key, row) of `twins` after the row of that key; the rest last."""
    placed = []
    for row in rows:
        placed.append(row)
        placed.extend(twin for key, twin in twins if key == row["key"])
    keys = {row["key"] for row in rows}
    return placed + [twin for key, twin in twins if key not in keys]


PG_FLOOR = "floor: psycopg executemany (pipelined) in one transaction, same server + JSON work"


def _postgresql_figures(pg):
    """The PostgreSQL rows, each paired with the key of the SQLite row it goes beside."""
    twins = []
    for row in figures({key: pg[key] for key in ("batches", "reads", "list") if key in pg}):
        twin = {**row, "key": f"pg {row['key']}", "figure": f"PostgreSQL: {row['figure']}"}
        if row["key"] in ("ingest", "update"):
            twin["reference_name"] = PG_FLOOR
        twins.append((row["key"], twin))
        if row["key"] == "reads" and pg.get("scale"):
            twins.append(("reads", _scale_figure(pg["scale"])))
    work = pg.get("workers")
    if work:
        service, other = work["service"], work["procrastinate"]
        times = ratio(service["jobs_per_s"], other["jobs_per_s"])
        twins.append(("worker throughput", figure(
            "pg worker throughput",
            f"PostgreSQL: claim ({service['claim_limit']}) + complete, {service['workers']} "
            f"HTTP workers, {service['jobs']:,} jobs", "jobs/s", service["jobs_per_s"],
            other["jobs_per_s"],
            f"Procrastinate {other['version']}, one worker, concurrency "
            f"{other['concurrency']}, async no-op task, same server", times,
            "service / Procrastinate", ">= 1.0x", times >= 1.0)))
    return twins


def _scale_figure(scale):
    one, two = scale["one"], scale["two"]
    times = ratio(two["requests_per_s"], one["requests_per_s"])
    return figure(
        "pg reads x2", f"PostgreSQL: reads on two instances, {scale['connections']} conns "
        "over both", "req/s", two["requests_per_s"], one["requests_per_s"],
        "the same load on one instance", times, "two / one", ">= 1.6x", times >= 1.6)


def _worker_figures(work):
    service, huey = work["service"], work["huey"]
    fsync = {"default": "default fsync", "off": "fsync off"}[huey["fsync"]]
    times = ratio(service["jobs_per_s"], huey["jobs_per_s"])
    rows = [figure(
        "worker throughput",
        f"claim ({service['claim_limit']}) + complete, {service['workers']} HTTP workers, "
        f"{service['jobs']:,} jobs", "jobs/s", service["jobs_per_s"], huey["jobs_per_s"],
        f"huey SqliteHuey ({fsync}), Consumer -w {huey['workers']} -k thread, no-op tasks",
        times, "service / huey", ">= 1.0x", times >= 1.0)]
    same, other = service["latency"], service["latency_other_process"]
    for key, label, target, met in (("p50_ms", "p50", "reported", None),
                                    ("p99_ms", "p99", "< 50 ms", same["p99_ms"] < 50)):
        rows.append(figure(
            f"claim latency {label}",
            f"waiting claim, create to claim answer, {label} ({same['samples']} samples)", "ms",
            same[key], other[key],
            f"the job created on a second server process on the same file "
            f"({other['samples']} samples)",
            ratio(same[key], other[key]), "same process / other process", target, met))
    return rows


def _number(value, unit):
    if value is None:
        return "-"
    if unit in ("jobs/s", "req/s"):
        return f"{value:,.0f}"
    if unit == "% of a core":
        return f"{value:.4f}%"
    return f"{value:,.1f}"


def table(rows):
    header = ("figure", "unit", "service", "reference", "ratio", "target", "met")
    body = [
        (row["figure"], row["unit"], _number(row["service"], row["unit"]),
         _number(row["reference"], row["unit"]),
         "inf" if row["ratio"] == math.inf else f"{row['ratio']:.2f}x",
         row["target"], {True: "yes", False: "MISSED", None: "-"}[row["met"]])
        for row in rows
    ]
    widths = [max(len(line[n]) for line in (header, *body)) for n in range(len(header))]
    right = {2, 3, 4}

    def line(cells):
        return "  ".join(cell.rjust(w) if n in right else cell.ljust(w)
                         for n, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    lines.extend(line(cells) for cells in body)
    lines.append("")
    legend = {}
    for row in rows:
        legend.setdefault((row["reference_name"], row["ratio_meaning"]), []).append(row["key"])
    lines.extend(f"  {', '.join(keys)}: reference = {name}; ratio = {meaning}"
                 for (name, meaning), keys in legend.items())
    return "\n".join(lines)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "system": platform.platform(), "loadavg_at_start": os.getloadavg()}


def write_json(path, document):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def clean(value):
        if isinstance(value, float) and math.isinf(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        return value

    with open(path, "w") as out:
        json.dump(clean(document), out, indent=2)
        out.write("\n")
