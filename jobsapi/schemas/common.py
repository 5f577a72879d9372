"""Fields and validators shared by the schemas."""

import json

import marshmallow as ma
from flask import current_app

from ..errors import ItemErrors
from ..timeutil import isoformat


class UTCDateTime(ma.fields.DateTime):
    """A UTC time written as 2024-01-15T06:00:00.000Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class AllowedBy:
    """Validator: when the config key lists values, the value must be one of them."""

    def __init__(self, config_key):
        self.config_key = config_key

    def __call__(self, value):
        allowed = current_app.config.get(self.config_key) or []
        if allowed and value not in allowed:
            raise ma.ValidationError(f"Must be one of: {', '.join(allowed)}.")


class JsonLimits:
    """Validator for a free-form JSON value: at most `max_depth` objects and arrays deep
    (a deeper one could be stored, but not sent back) and `max_chars` characters long
    written as JSON (as it is stored)."""

    def __init__(self, max_depth, max_chars):
        self.max_depth = max_depth
        self.max_chars = max_chars

    def __call__(self, value):
        pending = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if not isinstance(item, (dict, list)):
                continue
            if depth > self.max_depth:
                raise ma.ValidationError(f"Nests more than {self.max_depth} levels deep.")
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        if len(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) > self.max_chars:
            raise ma.ValidationError(f"Longer than {self.max_chars} characters as JSON.")


class StrictSchema(ma.Schema):
    """Unknown fields are errors."""

    class Meta:
        unknown = ma.RAISE



class StrictBoolean(ma.fields.Boolean):
    """Only JSON true or false; no "yes", 1 or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictFloat(ma.fields.Float):
    """A JSON number only: no numeric strings, no booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class BatchItems(ma.fields.List):
    """A batch's items: each valid item is loaded; an invalid one becomes its ItemErrors,
    so that the batch engine reports every failing item, whatever failed."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        items = []
        for item in value:
            try:
                items.append(self.inner.deserialize(item, **kwargs))
            except ma.ValidationError as error:
                items.append(ItemErrors(error.messages))
        return items
