"""Scheduled jobs admin API (/api/jobs, permission settings.update)."""


from .. import activity, scheduled
from ..auth import current_user
from ..rest import Blueprint, View
from ..scheduling import current_scheduler
from ..schemas.scheduled import (
    ActionResultSchema,
    AllLogsArgs,
    JobLogArgs,
    RunLogPageSchema,
    ScheduledJobSchema,
    ScheduledJobUpdateSchema,
    TriggerResultSchema,
)

blp = Blueprint(
    "scheduled-jobs", __name__, url_prefix="/api/jobs",
    description="Scheduled maintenance jobs (permission settings.update)",
)
PERMISSION = "settings.update"


def _audit(action, job_id, details=None):
    activity.record(action, user=current_user(), resource="job", resource_id=job_id, details=details)


@blp.route("")
class ScheduledJobs(View):
    @blp.login_required(PERMISSION)
    @blp.response(200, ScheduledJobSchema(many=True))
    def get(self):
        """List all registered jobs with their status"""
        return scheduled.list_jobs()


@blp.route("/logs/all")
class AllRunLogs(View):
    @blp.login_required(PERMISSION)
    @blp.arguments(AllLogsArgs, location="query")
    @blp.response(200, RunLogPageSchema)
    def get(self, args):
        """Execution logs of all jobs, newest first"""
        limit = min(args["limit"], AllLogsArgs.MAX_LIMIT)
        return scheduled.run_logs(limit, args["offset"], args.get("job_id"), args.get("result"))


@blp.route("/<scheduled_job_id:job_id>")
class ScheduledJobById(View):
    @blp.login_required(PERMISSION)
    @blp.response(200, ScheduledJobSchema)
    @blp.errors(400, 404)
    def get(self, job_id):
        """Get a job's status"""
        return scheduled.get_job(job_id)

    @blp.login_required(PERMISSION)
    @blp.arguments(ScheduledJobUpdateSchema)
    @blp.response(200, ScheduledJobSchema)
    @blp.errors(404)
    def patch(self, changes, job_id):
        """Enable or disable a job, or change its schedule"""
        with scheduled.engine_errors():
            row = current_scheduler().update(scheduled.checked_id(job_id), **changes)
        _audit("jobs.update", job_id, changes)
        return scheduled.describe(row)


@blp.route("/<scheduled_job_id:job_id>/start")
class StartJob(View):
    @blp.login_required(PERMISSION)
    @blp.response(200, ActionResultSchema)
    @blp.errors(400, 404, 409)
    def post(self, job_id):
        """Start the job's schedule"""
        with scheduled.engine_errors():
            current_scheduler().set_stopped(scheduled.checked_id(job_id), False)
        _audit("jobs.start", job_id)
        return {"success": True, "message": "Job started successfully"}


@blp.route("/<scheduled_job_id:job_id>/stop")
class StopJob(View):
    @blp.login_required(PERMISSION)
    @blp.response(200, ActionResultSchema)
    @blp.errors(400, 404)
    def post(self, job_id):
        """Stop the job's schedule"""
        with scheduled.engine_errors():
            current_scheduler().set_stopped(scheduled.checked_id(job_id), True)
        _audit("jobs.stop", job_id)
        return {"success": True, "message": "Job stopped successfully"}


@blp.route("/<scheduled_job_id:job_id>/trigger")
class TriggerJob(View):
    @blp.login_required(PERMISSION)
    @blp.response(200, TriggerResultSchema)
    @blp.errors(400, 404, 409)
    def post(self, job_id):
        """Run the job now (its schedule is unchanged)"""
        with scheduled.engine_errors():
            run = current_scheduler().trigger(scheduled.checked_id(job_id), f"user:{current_user().id}")
        _audit("jobs.trigger", job_id, {"runId": run.id})
        return {"success": True, "message": "Job triggered successfully", "runId": run.id}


@blp.route("/<scheduled_job_id:job_id>/logs")
class JobRunLogs(View):
    @blp.login_required(PERMISSION)
    @blp.arguments(JobLogArgs, location="query")
    @blp.response(200, RunLogPageSchema)
    @blp.errors(404)
    def get(self, args, job_id):
        """Execution logs of one job, newest first"""
        limit = min(args["limit"], JobLogArgs.MAX_LIMIT)
        return scheduled.run_logs(limit, args["offset"], job_id=scheduled.checked_id(job_id))
