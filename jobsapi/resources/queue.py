"""Model limits (/api/model-limits, admin or settings.update), queue stats (/jobs/stats)
and workers (/api/workers), both for admins and jobs.work."""

from flask_smorest import abort

from .. import activity, limits, queuestats
from ..auth import current_user, has_permission
from ..parsing import naive_utc
from ..rest import Blueprint, View
from ..schemas.limits import (
    ModelLimitSchema,
    ModelLimitUpdateSchema,
    QueueStatsSchema,
    WorkerSchema,
)

blp = Blueprint("model-limits", __name__, description="Model limits, queue stats, workers")
SETTINGS, WORK = "settings.update", "jobs.work"


def _watching():
    """Admins and jobs.work holders watch the queue (403 for others)."""
    if not has_permission(current_user(), WORK):
        abort(403, message=f"This action requires the '{WORK}' permission.")



@blp.route("/api/model-limits")
class ModelLimits(View):
    @blp.login_required(SETTINGS)
    @blp.response(200, ModelLimitSchema(many=True))
    def get(self):
        """Every model's limits"""
        return limits.list_limits()


@blp.route("/api/model-limits/<model_name:model>")
class ModelLimitByName(View):
    @blp.login_required(SETTINGS)
    @blp.arguments(ModelLimitUpdateSchema, required=False)
    @blp.response(200, ModelLimitSchema)
    @blp.errors(400, 404)
    def put(self, body, model):
        """Set a model's limits (a field left out, or no body: no limit)"""
        body["paused_until"] = naive_utc(body.get("paused_until"))
        limit = limits.set_limits(model, body)
        activity.record("models.limits.update", user=current_user(), resource="model",
                        resource_id=model, details=ModelLimitSchema().dump(limit))
        return limit

    @blp.login_required(SETTINGS)
    @blp.response(204)
    @blp.errors(400, 404)
    def delete(self, model):
        """Remove a model's limits"""
        limits.remove_limits(model)
        activity.record("models.limits.update", user=current_user(), resource="model",
                        resource_id=model, details={"removed": True})


@blp.route("/jobs/stats")
class QueueStats(View):
    @blp.login_required()
    @blp.response(200, QueueStatsSchema)
    @blp.errors(403)
    def get(self):
        """The queue per model: jobs by status, oldest due job, in flight, limits, usage"""
        _watching()
        return {"models": queuestats.by_model()}


@blp.route("/api/workers")
class Workers(View):
    @blp.login_required()
    @blp.response(200, WorkerSchema(many=True))
    @blp.errors(403)
    def get(self):
        """The workers seen in the last 24 hours"""
        _watching()
        return queuestats.workers()

