"""JWT wiring, the current user, permission checks and the app's secret key."""

import collections
import functools
import os
import secrets
import tempfile
import threading
import time
from datetime import timedelta

from flask import current_app, jsonify
from flask_jwt_extended import JWTManager, current_user, jwt_required
from flask_smorest import abort

from .errors import error_body
from .models import User


class JWTManagerWithCache(JWTManager):
    """Verifies a token's signature once: the claims of a token string that verified are
    kept (keyed with the secret that verified it) until the token expires. Decoding
    twice per request, as flask-jwt-extended does, was a third of a job read."""

    CACHE_SIZE = 4096

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._verified = collections.OrderedDict()
        self._lock = threading.Lock()

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        key = (current_app.config["JWT_SECRET_KEY"], encoded_token, csrf_value, allow_expired)
        with self._lock:
            claims = self._verified.get(key)
        if claims is not None and (allow_expired or claims.get("exp", 0) > time.time()):
            return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        with self._lock:
            self._verified[key] = dict(claims)
            while len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims


jwt = JWTManagerWithCache()

PERMISSIONS = ("settings.update", "activities.read", "users.manage")
ROLES = ("admin", "client")


def init_app(app):
    """Configure token lifetimes and the secret key, then bind flask-jwt-extended."""
    key = app.config.get("JOBSAPI_SECRET_KEY") or load_secret_key(app.config["JOBSAPI_DATABASE"])
    app.config["SECRET_KEY"] = key
    app.config["JWT_SECRET_KEY"] = key
    app.config.setdefault("JWT_ALGORITHM", "HS256")
    app.config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    app.config.setdefault(
        "JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=app.config["JOBSAPI_ACCESS_TOKEN_MINUTES"])
    )
    jwt.init_app(app)


def load_secret_key(database_path):
    """Read the key kept beside the database, creating it (mode 0600) on first use."""
    directory = os.path.dirname(os.path.abspath(database_path)) if database_path != ":memory:" else "."
    path = os.path.join(directory, "secret_key")
    if not os.path.exists(path):
        # Write a whole file, then link it into place (fails if one is there): a process
        # starting at the same moment reads the finished key, never an empty file.
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: everyone uses its key
        finally:
            os.unlink(temporary)
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


def has_permission(user, permission):
    """Admins hold every permission; clients hold those granted to them."""
    return user.role == "admin" or permission in (user.permissions or [])


def is_admin(user):
    return user.role == "admin"


def permission_required(permission):
    """Require a valid access token whose user holds `permission` (else 401 / 403)."""

    def decorator(func):
        @functools.wraps(func)
        @jwt_required()
        def wrapper(*args, **kwargs):
            if not has_permission(current_user, permission):
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
    # Run on every authenticated request: plain SQL, not the query builder.
    return next(User.from_sql("SELECT * FROM users WHERE id = ? AND disabled = 0", user_id), None)


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
