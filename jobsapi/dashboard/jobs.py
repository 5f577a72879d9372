"""Work jobs: the filtered list, a job's detail, failures grouped by error, and the
actions (retry, cancel, delete) on ticked jobs or on all that match."""

from flask import flash, redirect, render_template, request, url_for

from .. import activity, failures, outcomes, workjobs
from ..errors import InvalidInput
from ..models import Job, User
from ..states import STATUSES
from ..waiting import jobs_due
from . import selection
from .web import blp, is_htmx, page, user

# action: (what it touches among the selected jobs, what it does, the past tense)
ACTIONS = {
    "retry": (workjobs.retryable, workjobs.retry_matching, "retried"),
    "cancel": (outcomes.cancelable, outcomes.cancel_matching, "canceled"),
    "delete": (lambda jobs: jobs, workjobs.delete_matching, "deleted"),
}


@blp.route("/jobs")
def job_list():
    jobs, after = selection.page(request.args, user())
    return page("dashboard/jobs.html", jobs=jobs, next_after=after, statuses=STATUSES,
                args=request.args, query=selection.query_string(request.args),
                fragment=("job-table", "dashboard/_job_table.html"))


@blp.route("/jobs/<job_id>")
def job_detail(job_id):
    current = user()
    job = workjobs.get_job(current, selection.checked_id(job_id))
    attempts = outcomes.attempts(current, job.id)
    client = User.get_or_none(User.id == job.client_id)
    return page("dashboard/job.html", job=job, attempts=attempts, client=client,
                allowed=allowed_actions(job),
                fragment=("job-live", "dashboard/_job_live.html"))


def allowed_actions(job):
    """The actions the job's status allows (its owner or an admin may take them)."""
    return [name for name, (touches, _, _) in ACTIONS.items()
            if touches(workjobs.visible_jobs(user()).where(Job.id == job.id)).exists()]


@blp.route("/failures")
def failure_groups():
    groups = failures.groups(workjobs.visible_jobs(user()))
    return page("dashboard/failures.html", groups=groups,
                fragment=("failures-live", "dashboard/_failures_live.html"))


def _selected(form):
    """The jobs the form means, and how the activity log names them."""
    if form.get("scope") == "all":
        filters = {}
        for key, value in selection.query_string(form):
            filters.setdefault(key, []).append(value)
        return selection.matching(form, user()), {"filters": {
            key: values[0] if len(values) == 1 else values for key, values in filters.items()}}
    jobs, ids = selection.ticked(form, user())
    return jobs, {"jobIds": ids}


def _back(form):
    """Where to go after an action: a dashboard page, never elsewhere."""
    target = form.get("next") or ""
    return target if target.startswith("/dashboard") and "//" not in target else url_for(
        "dashboard.job_list")


@blp.route("/jobs/action", methods=["POST"])
def job_action():
    """Ask first, saying how many jobs the action will touch; act once confirmed."""
    form, current = request.form, user()
    if form.get("action") not in ACTIONS:
        raise InvalidInput("action: retry, cancel or delete.")
    touches, act, done = ACTIONS[form["action"]]
    jobs, named = _selected(form)
    if form.get("confirmed") != "yes":
        count = touches(jobs).count()
        template = "dashboard/_confirm.html" if is_htmx() else "dashboard/confirm.html"
        return render_template(template, action=form["action"], count=count,
                               fields=[(key, value) for key, value in form.items(multi=True)
                                       if key not in ("csrf_token", "confirmed")],
                               back=_back(form))
    count = act(jobs)
    if form["action"] == "retry" and count:
        jobs_due()  # wake the claims waiting for work, here and on the other instances
    activity.record(f"work_jobs.{form['action']}", user=current, resource="work_job",
                    resource_id=named["jobIds"][0] if len(named.get("jobIds", ())) == 1
                    else None, details={**named, "count": count})
    message = f"{count:,} job{'' if count == 1 else 's'} {done}."
    if is_htmx() and form["action"] == "delete" and _back(form).startswith("/dashboard/jobs/"):
        flash(message)  # the job's own page is gone: on to the list
        return "", 200, {"HX-Redirect": url_for("dashboard.job_list")}
    if is_htmx():
        return (render_template("dashboard/_done.html", message=message), 200,
                {"HX-Trigger": "jobs-changed"})
    flash(message)
    return redirect(_back(form))

