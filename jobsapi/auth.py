"""Access tokens (flask-jwt-extended), the current user and permission checks."""

import functools
from datetime import timedelta

from flask import g, jsonify, request
from flask_jwt_extended import JWTManager, get_current_user, verify_jwt_in_request
from flask_smorest import abort

from . import apikeys, caches
from .database import is_present as database_is_present
from .errors import Unauthorized, error_body
from .models import RevokedToken, User
from .secretkey import load_secret_key

jwt = JWTManager()

PERMISSIONS = ("settings.update", "activities.read", "users.manage", "jobs.work")
ROLES = ("admin", "client")


def init_app(app):
    """Configure token lifetimes and the secret key, then bind flask-jwt-extended.

    Beside a database not created yet (the CLI's, see database.init_app) no key is made
    and JWT_SECRET_KEY stays unset until `prepare`."""
    # no SECRET_KEY: the service keeps no cookie session
    app.config["JWT_SECRET_KEY"] = app.config.get("JOBSAPI_SECRET_KEY") or load_secret_key(
        app.config["JOBSAPI_DATABASE"], create=database_is_present(app)
    )
    app.config.setdefault("JWT_ALGORITHM", "HS256")
    app.config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    app.config.setdefault(
        "JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=app.config["JOBSAPI_ACCESS_TOKEN_MINUTES"])
    )
    jwt.init_app(app)
    caches.init_app(app)


def prepare(app):
    """Make sure the app has its secret key, creating the one kept beside the database."""
    if not app.config.get("JWT_SECRET_KEY"):
        app.config["JWT_SECRET_KEY"] = load_secret_key(app.config["JOBSAPI_DATABASE"])


def has_permission(user, permission):
    """Admins hold every permission; clients hold those granted to them."""
    return user.role == "admin" or permission in (user.permissions or [])


def effective_permissions(user):
    """What the user may do: every permission for an admin, else those granted."""
    if user.role == "admin":
        return list(PERMISSIONS)
    return list(user.permissions or [])


def is_admin(user):
    return user.role == "admin"


def verify_token():
    """Verify the request's bearer credential, an access token or an API key, and load
    its user (current_user()); 401 when either fails."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and apikeys.is_api_key(credential.strip()):
        user = apikeys.user_for_key(credential.strip())
        if user is None:
            raise Unauthorized("Invalid, expired or revoked API key.")
    else:
        verify_jwt_in_request()
        user = get_current_user()
    g.jobsapi_user = user


def current_user():
    """The user of the request's credential, in a view behind login_required."""
    return g.jobsapi_user


def login_required(permission=None):
    """Require a valid access token (else 401) whose user holds `permission` (else 403)."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            verify_token()
            if permission is not None and not has_permission(current_user(), permission):
                abort(403, message=f"This action requires the '{permission}' permission.")
            return func(*args, **kwargs)

        return wrapper

    return decorator


def _unauthorized(message):
    response = jsonify(error_body(401, message))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


@jwt.user_lookup_loader
def load_user(_header, payload):
    """The token's user, or None (then 401) when it no longer exists or is disabled."""
    try:
        user_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return None
    return caches.auth_cache().user(User, user_id, lambda: User.get_or_none(
        (User.id == user_id) & (User.disabled == False)))  # noqa: E712 (SQL, not Python)


@jwt.token_in_blocklist_loader
def token_revoked(_header, payload):
    """Whether the access token was revoked (by logout) before it expired."""
    jti = payload.get("jti")
    return jti is not None and caches.auth_cache().is_revoked(
        jti, lambda: RevokedToken.select().where(RevokedToken.jti == jti).exists())


@jwt.user_lookup_error_loader
def user_lookup_error(_header, _payload):
    return _unauthorized("The token's user is unknown or disabled.")


@jwt.unauthorized_loader
def missing_token(_reason):
    return _unauthorized("Missing access token (Authorization: Bearer <token>).")


@jwt.invalid_token_loader
def invalid_token(_reason):
    return _unauthorized("Invalid access token.")


@jwt.expired_token_loader
def expired_token(_header, _payload):
    return _unauthorized("The access token has expired.")


@jwt.revoked_token_loader
def revoked_token(_header, _payload):
    return _unauthorized("The access token has been revoked.")


@jwt.token_verification_failed_loader
def failed_token(_header, _payload):
    return _unauthorized("Invalid access token.")


@jwt.needs_fresh_token_loader
def stale_token(_header, _payload):
    return _unauthorized("A fresh access token is required.")
