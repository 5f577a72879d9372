"""flask-smorest bound to the service's conventions: 400 for bad input, one error shape."""

import http
import json
import logging
import re
import uuid

import flask_smorest
import marshmallow as ma
import peewee as pw
from flask import current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from playhouse.pool import MaxConnectionsExceeded

from . import metrics, openapi
from .auth import login_required
from .errors import ServiceError, error_body
from .parsing import Parser
from .resources import docs

log = logging.getLogger(__name__)

# What SQLite says when another connection holds the lock past busy_timeout: the only
# database errors that are the caller's to retry (503); any other is a fault (500).
BUSY_MESSAGES = ("database is locked", "database is busy", "database table is locked")
# On PostgreSQL: the errors of a server out of reach, or of a pool with no connection free.
UNAVAILABLE = (pw.OperationalError, pw.InterfaceError, MaxConnectionsExceeded)
# An X-Request-ID a client sends is kept when it is this sane (a UUID, a proxy's id, ...).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with the keys in the order given, and the responses encoded by one
    encoder made once: Flask's json.dumps makes a JSONEncoder for each response."""

    sort_keys = False
    COMPACT = {"separators": (",", ":")}  # what Flask's response() asks for, not debugging

    def __init__(self, app):
        super().__init__(app)
        self._compact = json.JSONEncoder(default=self.default, ensure_ascii=self.ensure_ascii,
                                         sort_keys=self.sort_keys, **self.COMPACT)

    def dumps(self, obj, **kwargs):
        if kwargs == self.COMPACT:
            return self._compact.encode(obj)
        return super().dumps(obj, **kwargs)


class Blueprint(flask_smorest.Blueprint):
    """A blueprint whose arguments answer bad input with 400, and whose views document
    their errors and tokens."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *, location="json", **kwargs):
        """Parse arguments; a JSON body also documents 413 (too large) and 415 (not JSON)."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse
        return lambda func: self.errors(413, 415)(parse(func))

    def errors(self, *codes):
        """Document error responses (the one error shape) for a view."""

        def decorator(func):
            for code in codes:
                func = self.alt_response(code, response=http.HTTPStatus(code).name)(func)
            return func

        return decorator

    def login_required(self, permission=None):
        """Require a valid access token (401) and, if given, a permission (403); documented."""

        def decorator(func):
            guarded = login_required(permission)(func)
            guarded = self.doc(security=[{"bearerAuth": []}])(guarded)
            return self.errors(401, 403)(guarded) if permission else self.errors(401)(guarded)

        return decorator


class View(MethodView):
    """A resource's views: they keep no state, so one instance answers every request."""

    init_every_request = False


class ErrorSchema(ma.Schema):
    """The one error shape (errors.error_body)."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "Its reason phrase"})
    message = ma.fields.String(required=True)
    errors = ma.fields.Dict(metadata={"description": "Field errors, only when there are any"})


class Api(flask_smorest.Api):
    """The API: HTTP errors leave in the one error shape."""

    ERROR_SCHEMA = ErrorSchema
    # Each operation lists the error statuses it answers, with no catch-all `default`
    # that would make any status look documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        data = getattr(error, "data", None) or {}
        message = data.get("message") or error.description
        if error.code == 500:
            message = failure_message()
        body = error_body(error.code, message, data.get("errors"))
        headers = dict(data.get("headers") or {})
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return body, error.code, headers


def service_error(error):
    headers = {"WWW-Authenticate": "Bearer"} if error.code == 401 else {}
    if getattr(error, "retry_after", None):
        headers["Retry-After"] = str(error.retry_after)
    return error_body(error.code, error.message, error.errors), error.code, headers


def database_error(error):
    """A busy database (SQLite's lock), or one out of reach (a PostgreSQL server down or
    restarting, no pooled connection free in time) is 503: retry shortly. Any other
    database error is a fault (500)."""
    db = current_app.extensions["jobsapi.db"]
    if isinstance(db, pw.PostgresqlDatabase) and isinstance(error, UNAVAILABLE):
        log.warning("database unavailable: %s", str(error).strip().splitlines()[0]
                    if str(error).strip() else type(error).__name__)
        db.close_idle()  # connections pooled before a restart are dead too: start afresh
        metrics.count_db_busy()
        return (error_body(503, "The database is unavailable; retry shortly."), 503,
                {"Retry-After": "1"})
    if any(busy in str(error).lower() for busy in BUSY_MESSAGES):
        log.warning("database unavailable: %s", error)
        metrics.count_db_busy()
        return error_body(503, "The database is busy; retry shortly."), 503, {"Retry-After": "1"}
    log.error("database error", exc_info=error)
    return error_body(500, failure_message()), 500


def request_id():
    """The request's id: the client's X-Request-ID when sane, else a new one; it is sent
    back in the X-Request-ID header and stamped on every log line the request causes."""
    if g.get("jobsapi_request_id") is None:
        given = request.headers.get("X-Request-ID", "")
        g.jobsapi_request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.jobsapi_request_id


def failure_message():
    """A 500's message: the request id is how the failure is found in the log."""
    return (f"The server failed (request id {request_id()}); quote this id when reporting "
            "the problem.")


def start_request():
    request_id()


def finish_request(response):
    """Send the request id back, and leave it, the route template and the user in the
    WSGI environ for the access log (written after the app has answered)."""
    response.headers["X-Request-ID"] = request_id()
    user = g.get("jobsapi_user")
    request.environ.update({
        "jobsapi.request_id": request_id(),
        "jobsapi.route": request.url_rule.rule if request.url_rule is not None else None,
        "jobsapi.user_id": None if user is None else user.id,
    })
    return response


def integrity_error(error):
    log.warning("integrity error: %s", error)
    return error_body(409, "The change conflicts with stored data."), 409


def no_content_type(response):
    """A 204 has no body, so no Content-Type either."""
    if response.status_code == 204:
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
    return response


def init_app(app):
    """A flask-smorest Api for this app, with its OpenAPI settings, bearer scheme and
    error handlers."""
    app.json = JSONProvider(app)
    app.config.setdefault("API_TITLE", "jobsapi")
    app.config.setdefault("API_VERSION", "1.0.0")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", docs.ASSETS_URL)
    app.register_blueprint(docs.blp)
    api = Api(
        app,
        spec_kwargs={
            "info": {"description": "Work jobs and scheduled maintenance tasks."},
            "extra_plugins": [openapi.DocumentPlugin()],
        },
    )
    app.register_error_handler(ServiceError, service_error)
    app.register_error_handler(pw.OperationalError, database_error)
    app.register_error_handler(pw.InterfaceError, database_error)
    app.register_error_handler(MaxConnectionsExceeded, database_error)
    app.register_error_handler(pw.IntegrityError, integrity_error)
    app.after_request(no_content_type)
    # First, so that the id exists before anything else a request does is logged.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)
    converter = api.ma_plugin.converter
    converter.add_attribute_function(openapi.batch_length(app.config["JOBSAPI_MAX_BATCH"]))
    converter.add_attribute_function(openapi.allowed_values(app.config))
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for name, path_converter in openapi.CONVERTERS.items():
        app.url_map.converters[name] = path_converter
        api.register_converter(path_converter, lambda converter: dict(converter.schema))
    return api
