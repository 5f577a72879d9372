"""Optional sampling profile of the server during a benchmark phase (py-spy), and a
summary of where its time went."""

import collections
import pathlib
import re
import signal
import subprocess
import sys

from . import common

PY_SPY = pathlib.Path(sys.executable).with_name("py-spy")
FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SITE_RE = re.compile(r".*/(?:site|dist)-packages/")
STDLIB_RE = re.compile(r".*/lib/python3\.\d+/")
PLUMBING = ("(threading.py)", "(waitress/task.py)", "(waitress/channel.py)")
# Packages whose share of the samples answers "where does the time go".
PACKAGES = ("jobsapi", "schedules", "marshmallow", "flask_smorest", "webargs", "flask",
            "werkzeug", "flask_jwt_extended", "jwt", "peewee", "json", "logging", "waitress")


class Profiler:
    """`py-spy record` attached to one pid, one phase at a time (a phase may come in several
    turns); each phase's collapsed stacks go to `directory`/profile-PHASE.txt."""

    def __init__(self, pid, directory, rate=200):
        self.pid = pid
        self.directory = pathlib.Path(directory)
        self.rate = rate
        self.process = None
        self.phase = None
        self.raw = {}  # phase -> collapsed stacks of all its turns

    @property
    def summaries(self):
        return {phase: summarize(raw) for phase, raw in self.raw.items()}

    def start(self, phase):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.phase = phase
        self.output = self.directory / f"profile-{phase}.part"
        self.process = subprocess.Popen(
            [PY_SPY, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format",
             "raw", "--full-filenames", "--nonblocking", "--output", self.output],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.output.exists():
            self.raw[self.phase] = self.raw.get(self.phase, "") + self.output.read_text()
            self.output.unlink()
            (self.directory / f"profile-{self.phase}.txt").write_text(self.raw[self.phase])
        self.process = None


class Phase:
    """`with Phase(profiler, "ingest"):` profiles the block when a profiler is given."""

    def __init__(self, profiler, phase):
        self.profiler, self.phase = profiler, phase

    def __enter__(self):
        if self.profiler:
            self.profiler.start(self.phase)

    def __exit__(self, *exc):
        if self.profiler:
            self.profiler.stop()


def _short(path):
    """A module's path from its package root: jobsapi/workjobs.py, peewee.py, json/encoder.py."""
    if SITE_RE.match(path):
        return SITE_RE.sub("", path)
    root = str(common.ROOT) + "/"
    if path.startswith(root):
        return path[len(root):]
    return STDLIB_RE.sub("", path)


def _frames(stack):
    for frame in stack.split(";"):
        match = FRAME_RE.match(frame)
        if match:
            yield match["func"], _short(match["file"])


def summarize(raw, top=12):
    """Shares of the non-idle samples: by package (inclusive), by function (inclusive,
    and as the innermost Python frame).

    The inclusive list leaves out the serving plumbing (threading, waitress), the frames
    on 90% of the stacks or more, and of a chain of frames with the same count (wrappers
    calling wrappers) all but the innermost.
    """
    total = 0
    packages, inclusive, leaf = collections.Counter(), collections.Counter(), collections.Counter()
    depth = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.strip() or not count.isdigit():
            continue
        count = int(count)
        frames = list(_frames(stack))
        if not frames:
            continue
        total += count
        seen = set()
        for level, (func, path) in enumerate(frames):
            name = f"{func} ({path})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
                depth[name] = max(depth.get(name, 0), level)
        func, path = frames[-1]
        leaf[f"{func} ({path})"] += count
        for package in {_package(path) for _, path in frames} - {None}:
            packages[package] += count
    share = (lambda n: round(n / total, 4)) if total else (lambda n: 0.0)
    innermost = {}  # count -> the deepest frame with exactly that count
    for name, n in inclusive.items():
        if n < 0.9 * total and not name.endswith(PLUMBING):
            if n not in innermost or depth[name] > depth[innermost[n]]:
                innermost[n] = name
    chosen = sorted(innermost.items(), reverse=True)[:top]
    return {
        "samples": total,
        "packages": {name: share(packages[name]) for name in PACKAGES if packages[name]},
        "inclusive": [(name, share(n)) for n, name in chosen],
        "self": [(name, share(n)) for name, n in leaf.most_common(top)],
    }


def _package(path):
    top = path.split("/", 1)[0].removesuffix(".py")
    return top if top in PACKAGES else None


def report(summaries):
    """Text lines for the summaries of every profiled phase."""
    lines = []
    for phase, summary in summaries.items():
        lines.append(f"profile of the server during {phase} ({summary['samples']} samples, "
                     "share of non-idle samples):")
        lines.append("  by package (inclusive): " + ", ".join(
            f"{name} {share:.0%}" for name, share in
            sorted(summary["packages"].items(), key=lambda item: -item[1])))
        lines.append("  top functions (inclusive, innermost of equal shares, below the common path):")
        lines.extend(f"    {share:6.1%}  {name}" for name, share in summary["inclusive"])
        lines.append("  top functions (innermost Python frame):")
        lines.extend(f"    {share:6.1%}  {name}" for name, share in summary["self"])
    return lines
