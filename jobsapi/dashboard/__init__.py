"""The dashboard at /dashboard: server-rendered pages over the service's own functions,
for people signed in with a session cookie (the API keeps its bearer tokens)."""

from . import account, activity, jobs, overview, queue, scheduled, signin  # noqa: F401  (routes)
from .web import blp

__all__ = ["blp", "init_app", "signed_in"]


def init_app(app):
    """Sessions for the dashboard, and its blueprint (kept out of the OpenAPI document:
    it is no part of the JSON API)."""
    signin.init_app(app)
    app.register_blueprint(blp)


def signed_in():
    """Whether the request comes from a browser signed in to the dashboard."""
    return signin.current_user() is not None
