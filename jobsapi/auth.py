"""Access tokens (made and decoded by flask-jwt-extended) and API keys, the current user,
and permission checks."""

import functools
from datetime import timedelta

from flask import g, request
from flask_jwt_extended import JWTManager, decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import abort
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from . import apikeys, caches
from .database import is_present as database_is_present
from .database import is_postgresql as database_is_postgresql
from .errors import Unauthorized
from .models import RevokedToken, User
from .secretkey import load_secret_key

jwt = JWTManager()

PERMISSIONS = ("settings.update", "activities.read", "users.manage", "jobs.work",
               "metrics.read")
ROLES = ("admin", "client")


def init_app(app):
    """Configure token lifetimes and the secret key, then bind flask-jwt-extended.

    Beside a database not created yet (the CLI's, see database.init_app) no key is made
    and JWT_SECRET_KEY stays unset until `prepare`."""
    # no SECRET_KEY: the service keeps no cookie session
    if not app.config.get("JOBSAPI_SECRET_KEY") and database_is_postgresql(app):
        raise SystemExit("JOBSAPI_SECRET_KEY: required on PostgreSQL (every instance signs "
                         "tokens with it, so give them all the same one)")
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
    its user (current_user()); Unauthorized (401) when either fails."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthorized("Missing access token (Authorization: Bearer <token>).")
    if apikeys.is_api_key(credential):
        user = apikeys.user_for_key(credential)
        if user is None:
            raise Unauthorized("Invalid, expired or revoked API key.")
    else:
        user = token_user(token_claims(credential))
    g.jobsapi_user = user


def token_claims(token):
    """The claims of a valid, unrevoked access token; Unauthorized otherwise. A verified
    token's claims are kept until it expires: decoding is most of a token check."""
    cache = caches.auth_cache()
    claims = cache.claims(token)
    if claims is None:
        try:
            claims = decode_token(token)
        except ExpiredSignatureError:
            raise Unauthorized("The access token has expired.") from None
        except (PyJWTError, JWTExtendedException):
            raise Unauthorized("Invalid access token.") from None
        if claims.get("type") != "access" or "jti" not in claims:
            raise Unauthorized("Invalid access token.")
        cache.note_claims(token, claims)
    jti = claims["jti"]
    if cache.is_revoked(jti, lambda: RevokedToken.select().where(
            RevokedToken.jti == jti).exists()):
        raise Unauthorized("The access token has been revoked.")
    return claims


def token_user(claims):
    """The active user a token's claims name; Unauthorized when there is none."""
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        user_id = None
    user = None if user_id is None else caches.auth_cache().user(User, user_id, lambda: (
        User.get_or_none((User.id == user_id) & (User.disabled == False))))  # noqa: E712
    if user is None:
        raise Unauthorized("The token's user is unknown or disabled.")
    return user


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
