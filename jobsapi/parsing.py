"""Reading requests: strict JSON bodies, and a parser that answers bad input with 400
in the one error shape."""

import datetime as dt
import json
import math
import re
import urllib.parse

import marshmallow as ma
from flask import current_app
from webargs.flaskparser import FlaskParser, abort

from . import dialect
from .errors import InvalidInput, first_message


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but no float holds it (answered 400)
        raise OverflowError("number too large")
    return value


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
NUL_MESSAGE = "Text in the request may not hold the NUL character (U+0000)."


class HoldsNul(ValueError):
    """A string of the request holds U+0000, which no text column of PostgreSQL stores
    (refused there; SQLite stores it)."""


def _refuse_nul(value):
    if isinstance(value, str):
        if "\x00" in value:
            raise HoldsNul(NUL_MESSAGE)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item)


def refuses_nul():
    """Whether the app's database refuses text holding NUL (PostgreSQL's does)."""
    return dialect.of(current_app.extensions["jobsapi.db"]).refuses_nul


def strict_json_loads(data, refuse_nul=False):
    """json.loads that refuses NaN and Infinity, which are not JSON, numbers beyond a
    float's range, which would become them, strings that are not Unicode text, and, when
    asked, the NUL character (HoldsNul)."""
    value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    if refuse_nul and "\\u0000" in data:
        _refuse_nul(value)
    if SURROGATE_ESCAPE.search(data):
        # "\ud83d\ude00" is one character, but a lone half of such a pair is no text at
        # all and could be neither stored nor sent back: UnicodeEncodeError (a ValueError).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


class Parser(FlaskParser):
    """Request parser: JSON bodies only, strict JSON, 400 with one error shape, and an
    unknown query parameter an error like an unknown body field (a misspelt filter
    would otherwise quietly match everything)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE, "querystring": ma.RAISE,
    }

    def load_json(self, req, schema):
        """The JSON body, parsed strictly (strict_json_loads); 415 for a body that is not
        JSON, 400 for one that does not parse, or holds a number no float holds."""
        body = req.get_data(cache=True)
        if not body:
            return ma.missing
        if not req.is_json:
            abort(415, message="Request body must be JSON (Content-Type: application/json).")
        try:
            return strict_json_loads(body.decode("utf-8"), refuse_nul=refuses_nul())
        except OverflowError:
            abort(400, message="A number in the request is too large.")
        except HoldsNul:
            abort(400, message=NUL_MESSAGE)
        except (ValueError, RecursionError):
            abort(400, message="Request body is not valid JSON.")

    def load_querystring(self, req, schema):
        """The query arguments; 400 if the query string is not UTF-8 once percent-decoded
        (werkzeug would replace the bad bytes, and a filter quietly match nothing)."""
        try:
            query = urllib.parse.unquote_to_bytes(req.query_string).decode("utf-8")
        except UnicodeDecodeError:
            abort(400, message="The query string is not valid UTF-8.")
        if "\x00" in query and refuses_nul():
            abort(400, message=NUL_MESSAGE)
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


def naive_utc(value):
    """A time from the request as naive UTC (a time without an offset is UTC already);
    400 for one past the last datetime once in UTC (9999-12-31T23:59-05:00)."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise InvalidInput("A time in the request is out of range.") from None
