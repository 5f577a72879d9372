"""flask-smorest bound to the service's conventions: 400 for bad input, one error shape."""

import functools
import http
import json
import logging
import math
import re
import urllib.parse

import flask_smorest
import marshmallow as ma
import peewee as pw
from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from flask_smorest.response import set_status_and_headers_in_response
from flask_smorest.utils import resolve_schema_instance, unpack_tuple_response
from webargs.flaskparser import FlaskParser, abort
from werkzeug.routing import BaseConverter

from schedules.registry import JOB_ID_RE as SCHEDULED_JOB_ID_RE

from .auth import login_required
from .errors import ServiceError, error_body, first_message
from .ids import JOB_ID_PATTERN
from .rendering import Rendered
from .resources import docs
from .schemas.common import AllowedBy, BatchItems

log = logging.getLogger(__name__)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but no float holds it (answered 400)
        raise OverflowError("number too large")
    return value


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def strict_json_loads(data):
    """json.loads that refuses NaN and Infinity, which are not JSON, numbers beyond a
    float's range, which would become them, and strings that are not Unicode text."""
    value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    if SURROGATE_ESCAPE.search(data):
        # "\ud83d\ude00" is one character, but a lone half of such a pair is no text at
        # all and could be neither stored nor sent back: UnicodeEncodeError (a ValueError).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


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


class Parser(FlaskParser):
    """Request parser: JSON bodies only, strict JSON, 400 with one error shape, and an
    unknown query parameter an error like an unknown body field (a misspelt filter
    would otherwise quietly match everything)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE, "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req):
        body = req.get_data(cache=True)
        if not body:
            return ma.missing
        if not req.is_json:
            abort(415, message="Request body must be JSON (Content-Type: application/json).")
        try:
            return strict_json_loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            abort(400, message="Request body is not valid JSON.")

    def load_querystring(self, req, schema):
        """The query arguments; 400 if the query string is not UTF-8 once percent-decoded
        (werkzeug would replace the bad bytes, and a filter quietly match nothing)."""
        try:
            urllib.parse.unquote_to_bytes(req.query_string).decode("utf-8")
        except UnicodeDecodeError:
            abort(400, message="The query string is not valid UTF-8.")
        return super().load_querystring(req, schema)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.normalized_messages()
        location = "query" if "query" in messages else "json"
        errors = _short_keys(messages.get(location, messages))
        message = "Invalid query parameters." if location == "query" else "Invalid request body."
        if isinstance(errors, dict) and errors:
            message = f"{message[:-1]}: {first_message(errors)}"
        abort(400, message=message, errors=errors)


FIELD_NAME_SHOWN = 200


def _short_keys(errors):
    """The errors with each field name cut to FIELD_NAME_SHOWN characters: an unknown
    field's name comes from the client and could be megabytes long."""
    if not isinstance(errors, dict):
        return errors
    short = {}
    for key, value in errors.items():
        if isinstance(key, str) and len(key) > FIELD_NAME_SHOWN:
            key = key[:FIELD_NAME_SHOWN - 3] + "..."
        short.setdefault(key, _short_keys(value))
    return short


def no_content():
    """A 204: no body, so no Content-Type either (Flask would label it text/html)."""
    response = Response(status=204)
    response.headers.remove("Content-Type")
    return response


class Blueprint(flask_smorest.Blueprint):
    """A blueprint whose arguments answer bad input with 400."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *, location="json", **kwargs):
        """Parse arguments; a JSON body also documents 413 (too large) and 415 (not JSON)."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse
        return lambda func: self.errors(413, 415)(parse(func))

    def response(self, status_code, schema=None, **kwargs):
        """Documented as flask-smorest documents it, answered by a call-through of our
        own: the stock one also runs each view through ensure_sync (no view here is
        async) and keeps every result in g for ETags (none here), about 6 microseconds
        of a GET by id. The view returns a body, (body, status), (body, headers), all
        three or a Response, as with flask-smorest; a body may also be Rendered, JSON
        text the database rendered in the schema's shape (rendering.json_object). A 204
        leaves with neither body nor Content-Type."""
        document = super().response(status_code, schema, **kwargs)
        schema = resolve_schema_instance(schema)

        def decorator(func):
            @functools.wraps(func)
            def respond(*args, **kwargs):
                result, status, headers = unpack_tuple_response(func(*args, **kwargs))
                if not isinstance(result, Response):
                    status = status_code if status is None else status
                    if status == 204:
                        result = no_content()
                    elif isinstance(result, Rendered):  # JSON text in the schema's shape already
                        result = Response(f"{result}\n", mimetype="application/json")
                    else:
                        result = jsonify(result if schema is None else schema.dump(result))
                set_status_and_headers_in_response(result, status, headers)
                return result

            respond._apidoc = document(func)._apidoc
            return respond

        return decorator

    def doc(self, **kwargs):
        return _in_place(super().doc(**kwargs))

    def alt_response(self, status_code, **kwargs):
        return _in_place(super().alt_response(status_code, **kwargs))

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
    """A resource's views. One instance answers every request (they keep no state; Flask
    otherwise makes one per request), and a request goes straight to its method: the
    views are synchronous, so Flask's ensure_sync is left out, and so are the context
    proxies it reads through (a read through a proxy first fails to find the attribute
    on the proxy, an AttributeError made and dropped each time)."""

    init_every_request = False

    @classmethod
    def as_view(cls, name, *class_args, **class_kwargs):
        stock = super().as_view(name, *class_args, **class_kwargs)
        dispatch = cls(*class_args, **class_kwargs).dispatch_request

        def view(**kwargs):
            return dispatch(**kwargs)

        view.__dict__.update(stock.__dict__)  # view_class, methods, ...
        view.__name__, view.__doc__, view.__module__ = name, stock.__doc__, stock.__module__
        return view

    def dispatch_request(self, **kwargs):
        method = request._get_current_object().method
        handler = getattr(self, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(self, "get", None)
        assert handler is not None, f"Unimplemented method {method!r}"
        return handler(**kwargs)


def _in_place(decorator):
    """A flask-smorest decorator that only documents, applied to the view itself instead
    of through the call-through wrapper it adds (a call and an ensure_sync per request)."""

    def apply(func):
        func._apidoc = decorator(func)._apidoc
        return func

    return apply


class ErrorSchema(ma.Schema):
    """The one error shape (errors.error_body)."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "Its reason phrase"})
    message = ma.fields.String(required=True)
    errors = ma.fields.Dict(metadata={"description": "Field errors, only when there are any"})


class Api(flask_smorest.Api):
    """The API: every error, raised anywhere, leaves in the one error shape."""

    ERROR_SCHEMA = ErrorSchema
    # Each operation lists the error statuses it answers, with no catch-all `default`
    # that would make any status look documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self):
        super()._register_error_handlers()
        self._app.register_error_handler(ServiceError, self.handle_service_error)
        self._app.register_error_handler(pw.OperationalError, self.handle_database_busy)
        self._app.register_error_handler(pw.IntegrityError, self.handle_integrity_error)
        self._app.register_error_handler(OverflowError, self.handle_overflow)

    def handle_http_exception(self, error):
        data = getattr(error, "data", None) or {}
        body = error_body(error.code, data.get("message") or error.description, data.get("errors"))
        headers = dict(data.get("headers") or {})
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return body, error.code, headers

    @staticmethod
    def handle_service_error(error):
        headers = {}
        if getattr(error, "retry_after", None):
            headers["Retry-After"] = str(error.retry_after)
        return error_body(error.code, error.message, error.errors), error.code, headers

    @staticmethod
    def handle_database_busy(error):
        log.warning("database unavailable: %s", error)
        body = error_body(503, "The database is busy; retry shortly.")
        return body, 503, {"Retry-After": "1"}

    @staticmethod
    def handle_overflow(error):
        return error_body(400, "A number in the request is too large."), 400

    @staticmethod
    def handle_integrity_error(error):
        log.warning("integrity error: %s", error)
        return error_body(409, "The change conflicts with stored data."), 409


class WorkJobIdConverter(BaseConverter):
    """A work job id in a path, documented by its pattern; the view answers 400 for a
    malformed one. `batch` and `summary` are not ids: /jobs/batch and /jobs/summary
    answer (and list in Allow) their own methods only."""

    regex = r"(?!(?:batch|summary)$)[^/]+"
    schema = {"type": "string", "pattern": JOB_ID_PATTERN}


class ScheduledJobIdConverter(BaseConverter):
    """A scheduled job id in a path, documented by its pattern; the view answers 400 for
    a malformed one."""

    schema = {
        "type": "string", "pattern": SCHEDULED_JOB_ID_RE.pattern, "maxLength": 100,
        "example": "metadata-sync",
    }


CONVERTERS = {"work_job_id": WorkJobIdConverter, "scheduled_job_id": ScheduledJobIdConverter}


class DocumentPlugin(BasePlugin):
    """Says in the OpenAPI document what the decorators cannot: the JSON Schema keywords
    a schema class lists in JSON_SCHEMA (say, minProperties for "give at least one
    field"), and the 503 any operation answers while the database stays busy
    (Api.handle_database_busy)."""

    def schema_helper(self, name, definition, schema=None, **kwargs):
        return dict(getattr(resolve_schema_cls(schema), "JSON_SCHEMA", {})) if schema else None

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            operation.setdefault("responses", {}).setdefault("503", "SERVICE_UNAVAILABLE")


def batch_length(limit):
    """An apispec attribute function: every batch list holds 1 to `limit` items."""

    def batch_length_attributes(converter, field, **kwargs):
        return {"minItems": 1, "maxItems": limit} if isinstance(field, BatchItems) else {}

    return batch_length_attributes


def allowed_values(config):
    """An apispec attribute function: a field an AllowedBy validator limits lists the
    configured values (JOBSAPI_MODELS, JOBSAPI_OPERATIONS) as its enum, when set."""

    def allowed_values_attributes(converter, field, **kwargs):
        for validator in field.validators:
            if isinstance(validator, AllowedBy) and config.get(validator.config_key):
                return {"enum": list(config[validator.config_key])}
        return {}

    return allowed_values_attributes


def init_app(app):
    """A flask-smorest Api for this app, with its OpenAPI settings and bearer scheme."""
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
            "extra_plugins": [DocumentPlugin()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(batch_length(app.config["JOBSAPI_MAX_BATCH"]))
    api.ma_plugin.converter.add_attribute_function(allowed_values(app.config))
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for name, converter in CONVERTERS.items():
        app.url_map.converters[name] = converter
        api.register_converter(converter, lambda converter: dict(converter.schema))
    return api
