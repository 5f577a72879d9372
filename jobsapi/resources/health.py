"""GET /health: the database answers and the scheduler loop is alive."""

import time

import marshmallow as ma
from flask_smorest import abort

from schedules.models import JobRun, ScheduledJob

from .. import database
from ..rest import Blueprint, View
from ..scheduling import current_scheduler
from ..timeutil import utcnow

blp = Blueprint("health", __name__, url_prefix="/health", description="Service health")

# An overdue job is one whose slot passed this long ago without being claimed.
OVERDUE_AFTER_SECONDS = 60
# The loop is stalled when it is this late for a pass it had planned.
STALLED_AFTER_SECONDS = 30


class SchedulerHealthSchema(ma.Schema):
    state = ma.fields.String(
        required=True, metadata={"description": "running, stalled or off (not started here)"}
    )
    heartbeatAge = ma.fields.Float(
        required=True, allow_none=True,
        metadata={"description": "Seconds since the loop's last pass. An idle loop sleeps until "
                  "its next slot or a change, so this grows while idle; `state` says "
                  "whether the loop is late."},
    )
    runningRuns = ma.fields.Integer(required=True)
    overdueJobs = ma.fields.List(ma.fields.String(), required=True)


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    database = ma.fields.String(required=True, metadata={"example": "ok"})
    scheduler = ma.fields.Nested(SchedulerHealthSchema, required=True)


def scheduler_health():
    scheduler = current_scheduler()
    beat = scheduler.loop_beat
    age = None if beat is None or not scheduler.alive else round(time.monotonic() - beat, 3)
    if age is None:
        state = "off"
    elif scheduler.stalled_for > STALLED_AFTER_SECONDS:
        state = "stalled"
    else:
        state = "running"
    now = utcnow()
    overdue = [
        row.id for row in ScheduledJob.select()
        if row.id in scheduler.registry and scheduler.is_scheduled(row)
        and (scheduler.next_run(row, now) - now).total_seconds() < -OVERDUE_AFTER_SECONDS
    ] if state != "off" else []
    running = JobRun.select().where(JobRun.result == "running").count()
    return {"state": state, "heartbeatAge": age, "runningRuns": running, "overdueJobs": overdue}


@blp.route("")
class Health(View):
    @blp.response(200, HealthSchema)
    @blp.errors(503)
    def get(self):
        """Service health (no authentication); 503 when the scheduler loop has stalled"""
        database.current().execute_sql("SELECT 1").fetchone()
        health = {"status": "ok", "database": "ok", "scheduler": scheduler_health()}
        if health["scheduler"]["state"] == "stalled":
            abort(503, message="The scheduler loop has stalled.")
        return health
