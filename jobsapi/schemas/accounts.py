"""Schemas for login, tokens and users."""

import marshmallow as ma
from marshmallow import validate

from ..auth import PERMISSIONS, ROLES, effective_permissions
from .common import StrictBoolean, StrictSchema, UTCDateTime

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9_.@-]{1,64}$",
    error="Use 1-64 letters, digits, '_', '.', '@' or '-'.",
)
PASSWORD = validate.Length(min=8, max=256)


class LoginSchema(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=validate.Length(min=1, max=256))


class RefreshTokenSchema(StrictSchema):
    refreshToken = ma.fields.String(required=True, validate=validate.Length(min=1, max=512))


class UserBriefSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))
    permissions = ma.fields.Function(
        effective_permissions,
        required=True,
        metadata={
            "type": "array",
            "items": {"type": "string"},
            "description": "Effective permissions: every one for an admin, else those granted.",
        },
    )
    grantedPermissions = ma.fields.List(
        ma.fields.String(),
        attribute="permissions",
        required=True,
        metadata={"description": "Permissions granted to the user beyond its role."},
    )


class UserSchema(UserBriefSchema):
    disabled = ma.fields.Boolean(required=True)
    createdAt = UTCDateTime(attribute="created_at", required=True)


class TokenPairSchema(ma.Schema):
    accessToken = ma.fields.String(required=True)
    refreshToken = ma.fields.String(required=True)
    tokenType = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expiresIn = ma.fields.Integer(required=True, metadata={"description": "Seconds"})
    user = ma.fields.Nested(UserBriefSchema, required=True)


class UserCreateSchema(StrictSchema):
    username = ma.fields.String(required=True, validate=USERNAME)
    password = ma.fields.String(required=True, validate=PASSWORD, load_only=True)
    role = ma.fields.String(load_default="client", validate=validate.OneOf(ROLES))
    permissions = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(PERMISSIONS)), load_default=list
    )


class UserUpdateSchema(StrictSchema):
    JSON_SCHEMA = {"minProperties": 1}  # not_empty, for the OpenAPI document

    password = ma.fields.String(validate=PASSWORD, load_only=True)
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    permissions = ma.fields.List(ma.fields.String(validate=validate.OneOf(PERMISSIONS)))
    disabled = StrictBoolean()

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.")
