"""How the dashboard writes values: times (UTC in the page, the browser's zone once its
script runs), durations and ages with units, counts, JSON."""

import datetime as dt
import json

from markupsafe import Markup

from ..timeutil import isoformat

# Template filters (app-wide in Flask, so named apart from Jinja's own and a host's).
FILTERS = ("when", "duration", "number", "pretty_json", "long_text")
FOLD_AFTER = 300  # characters of text shown before the rest is folded away


def when(value):
    """A <time> element: UTC as written here, the browser's zone once dashboard.js runs;
    the UTC value stays on hover."""
    if value is None:
        return "—"
    stamp = isoformat(value)
    shown = stamp.replace("T", " ").replace(".000Z", "Z").replace("Z", " UTC")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(stamp, shown)


def duration(value):
    """A duration or an age with its unit: 850 ms, 42 s, 3 min 20 s, 5 h 12 min, 2 d 3 h."""
    if value is None:
        return "—"
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value < 1:
        return f"{sign}{value * 1000:.0f} ms"
    if value < 60:
        return f"{sign}{value:.0f} s"
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60),
                                          ("min", 60, "s", 1)):
        if value >= size:
            whole, rest = divmod(int(value), size)
            part = rest // small_size
            return f"{sign}{whole} {unit}" + (f" {part} {small}" if part else "")
    return f"{sign}{value:.0f} s"


def number(value):
    """A count with thousands separated: 1,234,567."""
    return "—" if value is None else f"{value:,}"


def pretty_json(value):
    """JSON, indented for reading."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def long_text(text):
    """Whether a text is long enough to fold."""
    return text is not None and len(str(text)) > FOLD_AFTER
