"""GET /metrics: the Prometheus text format, for holders of `metrics.read` or, with
JOBSAPI_METRICS_PUBLIC, for anyone (a private network)."""

from flask import Response, current_app

from ..metrics import CONTENT_TYPE
from ..rest import Blueprint, View

DESCRIPTION = "Prometheus metrics (text exposition format 0.0.4)"

# Two blueprints with one route each, so the OpenAPI document says what this app does:
# the guarded one documents its bearer token, 401 and 403; the public one none.
blp = Blueprint("metrics", __name__, url_prefix="/metrics", description=DESCRIPTION)
public_blp = Blueprint("metrics-public", __name__, url_prefix="/metrics",
                       description=DESCRIPTION)


# The body is text, described here: a response without a schema documents no content.
TEXT_BODY = {"responses": {"200": {"description": "Metrics in the text format", "content": {
    "text/plain": {"schema": {"type": "string"}}}}}}


def blueprint_for(config):
    """The blueprint this app serves /metrics with."""
    return public_blp if config["JOBSAPI_METRICS_PUBLIC"] else blp


def scrape():
    metrics = current_app.extensions["jobsapi.metrics"]
    return Response(metrics.render(), status=200, content_type=CONTENT_TYPE)


@blp.route("")
class Metrics(View):
    @blp.login_required("metrics.read")
    @blp.response(200, description="Metrics in the text format")
    @blp.doc(**TEXT_BODY)
    def get(self):
        """Prometheus metrics (permission metrics.read; an API key suits a scraper)"""
        return scrape()


@public_blp.route("")
class PublicMetrics(View):
    @public_blp.response(200, description="Metrics in the text format")
    @public_blp.doc(**TEXT_BODY)
    def get(self):
        """Prometheus metrics (JOBSAPI_METRICS_PUBLIC: no authentication)"""
        return scrape()
