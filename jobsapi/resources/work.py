"""The worker protocol (/jobs/claim, /jobs/<jobId>/heartbeat ... /release, permission
jobs.work), a client's cancel and a job's attempts."""

from flask import current_app

from .. import claims, outcomes
from ..auth import current_user, has_permission
from ..rest import Blueprint, View
from ..schemas.work import (
    AttemptSchema,
    BulkHeartbeatResultSchema,
    BulkHeartbeatSchema,
    ClaimResultSchema,
    ClaimSchema,
    CompleteSchema,
    FailSchema,
    HeartbeatResultSchema,
    HeartbeatSchema,
    LeaseTokenSchema,
)
from ..schemas.jobs import JobSchema
from ..waiting import Busy, jobs_due, waiting
from .jobs import checked_id

blp = Blueprint("work", __name__, url_prefix="/jobs",
                description="Workers: claim jobs under a lease and report outcomes")
WORK = "jobs.work"
RETRY_AFTER = {"Retry-After": {"description": "Present when too many claims wait: retry "
                                              "after this many seconds",
                               "schema": {"type": "integer"}}}


def _claimed(found):
    """Claimed jobs as the response lists them: the job, its attempt and its lease."""
    for job, attempt, token, expires in found:
        job.attempt, job.lease = attempt, {"token": token, "expiresAt": expires}
    return {"jobs": [claimed.job for claimed in found]}


@blp.route("/claim")
class Claim(View):
    @blp.login_required(WORK)
    @blp.arguments(ClaimSchema)
    @blp.response(200, ClaimResultSchema, headers=RETRY_AFTER)
    def post(self, body):
        """Claim due jobs, each under a lease (wait up to waitSeconds for one)"""
        user, wait = current_user(), body.pop("wait_seconds")

        def claim():
            return claims.claim(user, **body)

        if not wait:
            return _claimed(claim())
        try:
            return _claimed(waiting().until_claimed(claim, wait))
        except Busy:
            return {"jobs": []}, {"Retry-After": "1"}


@blp.route("/heartbeat")
class BulkHeartbeat(View):
    @blp.login_required(WORK)
    @blp.arguments(BulkHeartbeatSchema)
    @blp.response(200, BulkHeartbeatResultSchema)
    def post(self, body):
        """Renew the leases of several jobs; ok false for one that is not a live lease"""
        leases = [(lease["job_id"], lease["lease_token"]) for lease in body["leases"]]
        renewed = outcomes.heartbeat(leases, body.get("lease_seconds"))
        return {"leases": [
            {"jobId": job_id, "ok": False} if expires is None else
            {"jobId": job_id, "ok": True, "leaseExpiresAt": expires, "cancelRequested": cancel}
            for job_id, expires, cancel in renewed]}


@blp.route("/<work_job_id:job_id>/heartbeat")
class Heartbeat(View):
    @blp.login_required(WORK)
    @blp.arguments(HeartbeatSchema)
    @blp.response(200, HeartbeatResultSchema)
    @blp.errors(400, 409)
    def post(self, body, job_id):
        """Renew a job's lease; cancelRequested says to stop"""
        [(_, expires, cancel)] = outcomes.heartbeat([(checked_id(job_id), body["lease_token"])],
                                                    body.get("lease_seconds"))
        if expires is None:
            raise outcomes.LeaseLost(job_id)
        return {"leaseExpiresAt": expires, "cancelRequested": cancel}


@blp.route("/<work_job_id:job_id>/complete")
class Complete(View):
    @blp.login_required(WORK)
    @blp.arguments(CompleteSchema)
    @blp.response(200, JobSchema)
    @blp.errors(400, 409)
    def post(self, body, job_id):
        """Report the work done: PROCESSED with its results"""
        return outcomes.complete(checked_id(job_id), body.pop("lease_token"), **body)


@blp.route("/<work_job_id:job_id>/fail")
class Fail(View):
    @blp.login_required(WORK)
    @blp.arguments(FailSchema)
    @blp.response(200, JobSchema)
    @blp.errors(400, 409)
    def post(self, body, job_id):
        """Report a failure: retried later while attempts remain, else ERROR_PROCESSING"""
        config = current_app.config
        job = outcomes.fail(checked_id(job_id), body["lease_token"], body["error"],
                            body.get("retry_after"), base=config["JOBSAPI_RETRY_BASE_SECONDS"],
                            cap=config["JOBSAPI_RETRY_MAX_SECONDS"],
                            rate_limited=body["rate_limited"], pause_model=body["pause_model"],
                            max_snoozes=config["JOBSAPI_MAX_SNOOZES"])
        jobs_due()
        return job


@blp.route("/<work_job_id:job_id>/release")
class Release(View):
    @blp.login_required(WORK)
    @blp.arguments(LeaseTokenSchema)
    @blp.response(200, JobSchema)
    @blp.errors(400, 409)
    def post(self, body, job_id):
        """Give the job back unworked: PENDING now, the attempt not counted"""
        job = outcomes.release(checked_id(job_id), body["lease_token"])
        jobs_due()
        return job


@blp.route("/<work_job_id:job_id>/cancel")
class Cancel(View):
    @blp.login_required()
    @blp.response(200, JobSchema)
    @blp.errors(400, 404, 409)
    def post(self, job_id):
        """Cancel a job: at once when PENDING; when held, as its worker next reports"""
        return outcomes.cancel(current_user(), checked_id(job_id))


@blp.route("/<work_job_id:job_id>/attempts")
class Attempts(View):
    @blp.login_required()
    @blp.response(200, AttemptSchema(many=True))
    @blp.errors(400, 404)
    def get(self, job_id):
        """A job's attempts in order: worker, times, outcome, error"""
        user = current_user()
        return outcomes.attempts(user, checked_id(job_id), any_job=has_permission(user, WORK))
