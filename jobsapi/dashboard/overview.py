"""The overview: jobs by status, the queue per model, the last 24 hours, the scheduler's
health and the workers seen."""

from .. import database, queuestats, workjobs
from ..resources.health import scheduler_health
from ..states import STATUSES
from . import charts
from .web import WATCH, blp, can, page, user

COLORS = {"created": "#4e79a7", "processed": "#59a14f", "failed": "#e15759"}


@blp.route("/")
def overview():
    return page("dashboard/overview.html", **figures(),
                fragment=("overview-live", "dashboard/_overview_live.html"))


def figures(now=None):
    """What the overview shows the signed-in user."""
    now, current = now or database.now(), user()
    admin = current.role == "admin"
    models = queuestats.by_model(now) if can(WATCH) else None
    if admin:  # the counts the triggers keep: no count over a big table
        counts = dict.fromkeys(STATUSES, 0)
        for model in models:
            for status, number in model["counts"].items():
                counts[status] += number
        counts["total"] = sum(counts.values())
    else:
        counts = workjobs.summarize(current, {})
    day = queuestats.last_day(workjobs.visible_jobs(current), now,
                              client_id=None if admin else current.id)
    chart = charts.hourly({name: day[name] for name in COLORS}, COLORS)
    return {"counts": counts, "statuses": STATUSES, "models": models, "day": day,
            "chart": chart, "colors": COLORS, "totals": {
                name: sum(day[name]) for name in COLORS},
            "scheduler": scheduler_health(),
            "workers": queuestats.workers(now) if can(WATCH) else None, "now": now}
