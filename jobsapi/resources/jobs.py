"""Work jobs (/jobs): single and all-or-nothing batch routes, list and summary."""

import json
from urllib.parse import urlencode

from flask import Response, request

from .. import database, idempotency, workjobs
from ..auth import current_user
from ..errors import InvalidInput
from ..ids import JOB_ID_RE
from ..rest import Blueprint, View
from ..waiting import jobs_due
from ..schemas.jobs import (
    IdempotencyArgs,
    JobBatchCreateSchema,
    JobBatchDeleteSchema,
    JobBatchUpdateSchema,
    JobCreateSchema,
    JobFilterArgs,
    JobListArgs,
    JobSchema,
    JobSummarySchema,
    JobUpdateSchema,
)

blp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Work jobs")

REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "true when this is the stored answer to an earlier request with the "
                       "same Idempotency-Key and body (nothing was created)",
        "schema": {"type": "string"},
    }
}
LINK_HEADER = {
    "Link": {
        "description": 'Present when more jobs follow: <url>; rel="next"',
        "schema": {"type": "string"},
    }
}


def checked_id(job_id):
    """The job id of a path, or 400 for a malformed one."""
    if not JOB_ID_RE.match(job_id):
        raise InvalidInput("Invalid jobId: use 24 lowercase hexadecimal characters.")
    return job_id


def _filters(args):
    filters = dict(args)
    if current_user().role != "admin":
        filters.pop("client_id", None)  # clients only ever see their own jobs anyway
    return filters


def _next_link(last_id):
    params = [(key, value) for key, value in request.args.items(multi=True) if key != "after"]
    return f'<{request.base_url}?{urlencode(params + [("after", last_id)])}>; rel="next"'


def _create(make, schema, key=None):
    """Run `make`, a creation; with an Idempotency-Key, in one transaction with the
    bookkeeping that answers a repeated key with the first response. Then wake the
    claims waiting for work."""
    if key is None:
        created = make()
    else:
        user, digest = current_user(), idempotency.body_digest(request.get_json())
        with database.writing():
            first = idempotency.stored(user, key, digest)
            if first is not None:
                status, text = first
                return Response(text, status=status, mimetype="application/json",
                                headers={"Idempotent-Replayed": "true"})
            created = make()
            idempotency.remember(user, key, digest, 201, json.dumps(schema.dump(created)))
    jobs_due()
    return created


@blp.route("")
class Jobs(View):
    @blp.login_required()
    @blp.arguments(JobListArgs, location="query")
    @blp.response(200, JobSchema(many=True), headers=LINK_HEADER)
    def get(self, args):
        """List jobs, newest first, a page at a time"""
        limit, after = args.pop("limit"), args.pop("after", None)
        page, more = workjobs.list_jobs(current_user(), _filters(args), limit, after)
        headers = {"Link": _next_link(page[-1].id)} if more else {}
        return page, headers

    @blp.login_required()
    @blp.arguments(JobCreateSchema)
    @blp.arguments(IdempotencyArgs, location="headers", as_kwargs=True)
    @blp.response(201, JobSchema, headers=REPLAYED_HEADER)
    @blp.errors(409)
    def post(self, body, idempotency_key=None):
        """Create a job (status PENDING, owned by the caller)"""
        return _create(lambda: workjobs.create_jobs(current_user(), [body])[0], JobSchema(),
                       idempotency_key)


@blp.route("/batch")
class JobsBatch(View):
    @blp.login_required()
    @blp.arguments(JobBatchCreateSchema)
    @blp.arguments(IdempotencyArgs, location="headers", as_kwargs=True)
    @blp.response(201, JobSchema(many=True), headers=REPLAYED_HEADER)
    @blp.errors(409)
    def post(self, body, idempotency_key=None):
        """Create several jobs, all or nothing"""
        return _create(lambda: workjobs.create_jobs(current_user(), body["jobs"]),
                       JobSchema(many=True), idempotency_key)

    @blp.login_required()
    @blp.arguments(JobBatchUpdateSchema)
    @blp.response(200, JobSchema(many=True))
    def patch(self, body):
        """Update several jobs, all or nothing"""
        return workjobs.update_jobs(current_user(), body["jobs"])

    @blp.login_required()
    @blp.arguments(JobBatchDeleteSchema)
    @blp.response(204)
    def delete(self, body):
        """Delete several jobs (soft delete), all or nothing"""
        workjobs.delete_jobs(current_user(), body["job_ids"])


@blp.route("/summary")
class JobsSummary(View):
    @blp.login_required()
    @blp.arguments(JobFilterArgs, location="query")
    @blp.response(200, JobSummarySchema)
    def get(self, args):
        """Count jobs per status (same filters as the list)"""
        return workjobs.summarize(current_user(), _filters(args))


@blp.route("/<work_job_id:job_id>")
class JobById(View):
    @blp.login_required()
    @blp.response(200, JobSchema)
    @blp.errors(400, 404)
    def get(self, job_id):
        """Get a job"""
        return workjobs.get_job(current_user(), checked_id(job_id))

    @blp.login_required()
    @blp.arguments(JobUpdateSchema)
    @blp.response(200, JobSchema)
    @blp.errors(404, 409)
    def patch(self, changes, job_id):
        """Update a job: status (by the state table), fields, results"""
        return workjobs.update_job(current_user(), checked_id(job_id), changes)

    @blp.login_required()
    @blp.response(204)
    @blp.errors(400, 404)
    def delete(self, job_id):
        """Delete a job (soft delete)"""
        workjobs.delete_job(current_user(), checked_id(job_id))
