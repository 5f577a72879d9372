"""Responses are encoded as Flask's own JSON provider encodes them, keys in order."""

import dataclasses
import datetime as dt
import decimal
import uuid

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from jobsapi.rest import JSONProvider


@dataclasses.dataclass
class Point:
    x: int
    y: float


VALUE = {
    "z": 1, "a": [1.5, None, True, "é \u2028 \"q\""], "when": dt.datetime(2024, 1, 15, 6, 0),
    "day": dt.date(2024, 1, 15), "id": uuid.UUID(int=7), "amount": decimal.Decimal("1.10"),
    "point": Point(1, 2.5), "nested": {"b": {}, "a": []},
}


def _stock(app):
    provider = DefaultJSONProvider(app)
    provider.sort_keys = False
    return provider


def test_responses_match_flasks_encoding_with_keys_in_order():
    app = Flask(__name__)
    ours = JSONProvider(app)
    with app.app_context():
        body = ours.response(VALUE).get_data(as_text=True)
        assert body == _stock(app).response(VALUE).get_data(as_text=True)
    assert body.startswith('{"z":1,"a":[1.5,null,true,"\\u00e9 \\u2028 \\"q\\""],')


def test_other_arguments_are_passed_to_flasks_dumps():
    app = Flask(__name__)
    assert JSONProvider(app).dumps(VALUE, indent=2) == _stock(app).dumps(VALUE, indent=2)
    app.debug = True  # responses are indented then
    with app.app_context():
        assert JSONProvider(app).response(VALUE).get_data() == _stock(app).response(VALUE).get_data()
