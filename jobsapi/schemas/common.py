"""Fields and validators shared by the schemas."""

import marshmallow as ma
from flask import current_app

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
