"""JWT wiring, the current user, permission checks and the app's secret key."""

import collections
import functools
import os
import secrets
import tempfile
import threading
import time
from datetime import timedelta

from flask import current_app, g, jsonify, request
from flask_jwt_extended import JWTManager, current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import RevokedTokenError, UserLookupError
from flask_smorest import abort

from .database import is_present as database_is_present
from .errors import error_body
from .models import RevokedToken, User


jwt = JWTManager()

PERMISSIONS = ("settings.update", "activities.read", "users.manage")
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
    recent_users.ttl = app.config["JOBSAPI_USER_CACHE_SECONDS"]
    revocations.ttl = app.config["JOBSAPI_USER_CACHE_SECONDS"]


def prepare(app):
    """Make sure the app has its secret key, creating the one kept beside the database."""
    if not app.config.get("JWT_SECRET_KEY"):
        app.config["JWT_SECRET_KEY"] = load_secret_key(app.config["JOBSAPI_DATABASE"])


def load_secret_key(database_path, create=True):
    """Read the key kept beside the database, creating it (mode 0600) on first use; None
    when there is none and `create` is false."""
    directory = os.path.dirname(os.path.abspath(database_path)) if database_path != ":memory:" else "."
    path = os.path.join(directory, "secret_key")
    if not os.path.exists(path) and not create:
        return None
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


def effective_permissions(user):
    """What the user may do: every permission for an admin, else those granted."""
    if user.role == "admin":
        return list(PERMISSIONS)
    return list(user.permissions or [])


def is_admin(user):
    return user.role == "admin"


class ExpiringCache:
    """Values kept until their own expiry time (read from `clock`); past `size` entries
    the oldest go. Shared by the request threads, so every access holds the lock."""

    def __init__(self, clock, size=4096):
        self.clock = clock
        self.size = size
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, key, value, expires):
        with self._lock:
            self._entries[key] = (expires, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, matches):
        """Drop the entries whose key `matches`."""
        with self._lock:
            for key in [key for key in self._entries if matches(key)]:
                del self._entries[key]


# Access tokens whose signature and claims verified, as (header, claims) until they
# expire. flask-jwt-extended decodes a token twice per request and parses its header a
# third time; a remembered token only has its user looked up. The key holds the secret
# that verified the token, so a new secret verifies every token afresh.
verified_tokens = ExpiringCache(time.time)


class RecentUsers:
    """Users as a lookup found them, reused for `ttl` seconds: a query less per request,
    and each one a handover of the interpreter lock between the request threads. A
    change made here (update_user) is seen at once; one made by another process on the
    database (the CLI, a second server) within `ttl`. Keyed with the database file."""

    def __init__(self, ttl=1.0):
        self.ttl = ttl
        self._cache = ExpiringCache(time.monotonic)

    def get(self, key):
        data = self._cache.get(key)
        if data is None:
            return None
        user = User(__no_default__=1)  # a fresh instance each time: callers may change it
        user.__data__.update(data)
        return user

    def put(self, key, user):
        if self.ttl > 0:
            self._cache.put(key, dict(user.__data__), time.monotonic() + self.ttl)

    def forget(self, user_id):
        self._cache.forget(lambda key: key[1] == user_id)


recent_users = RecentUsers()


class Revocations:
    """Whether an access token (by its jti) was revoked at logout. A "no" is reused for
    `ttl` seconds, as RecentUsers reuses a user: a revocation made here is seen at once,
    one made by another process on the database within `ttl`. A "yes" is for good."""

    def __init__(self, ttl=1.0):
        self.ttl = ttl
        self._cache = ExpiringCache(time.monotonic)

    def is_revoked(self, jti):
        key = (RevokedToken._meta.database.database, jti)
        revoked = self._cache.get(key)
        if revoked is None:
            revoked = RevokedToken.find_one_value("1", "jti = ?", jti) is not None
            if revoked or self.ttl > 0:
                self._cache.put(key, revoked, time.monotonic() + (3600 if revoked else self.ttl))
        return revoked

    def revoked(self, jti):
        """Note a revocation just stored by this process."""
        key = (RevokedToken._meta.database.database, jti)
        self._cache.put(key, True, time.monotonic() + 3600)


revocations = Revocations()


def authenticate():
    """Verify the request's access token and load its user, as flask-jwt-extended's
    verify_jwt_in_request does (its errors answer 401), remembering a verified token."""
    # Through the objects behind the proxies: a read through a proxy first fails to find
    # the attribute on the proxy itself (an AttributeError made and dropped).
    config = current_app._get_current_object().config
    environ = request._get_current_object().environ
    key = (config["JWT_SECRET_KEY"], environ.get("HTTP_AUTHORIZATION"))
    entry = verified_tokens.get(key)
    if entry is None:
        verified = verify_jwt_in_request()  # None for a method exempt from tokens (OPTIONS)
        if verified is not None and "exp" in verified[1]:
            verified_tokens.put(key, verified, verified[1]["exp"])
        return
    header, claims = entry
    if token_revoked(header, claims):
        raise RevokedTokenError(header, claims)
    user = load_user(header, claims)
    if user is None:
        raise UserLookupError(f"user_lookup returned None for {claims.get('sub')}", header, claims)
    # Where verify_jwt_in_request keeps its outcome, which current_user and get_jwt() read
    # (set on the request's g itself: each attribute set through the proxy finds it again).
    vars(g._get_current_object()).update(
        _jwt_extended_jwt_user={"loaded_user": user},
        _jwt_extended_jwt_header=header,
        _jwt_extended_jwt=claims,
        _jwt_extended_jwt_location="headers",
    )


def authenticated_user():
    """The user of the request's token, in a view behind login_required: what
    get_current_user() returns, read without its checks (the jobs views ask on every
    request)."""
    return g._get_current_object()._jwt_extended_jwt_user["loaded_user"]


def login_required(permission=None):
    """Require a valid access token (else 401) whose user holds `permission` (else 403)."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            authenticate()
            if permission is not None and not has_permission(current_user, permission):
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
    key = (User._meta.database.database, user_id)
    user = recent_users.get(key)
    if user is None:
        # Run on most authenticated requests: plain SQL, not the query builder.
        user = User.find_one("id = ? AND disabled = 0", user_id)
        if user is not None:
            recent_users.put(key, user)
    return user


@jwt.token_in_blocklist_loader
def token_revoked(_header, payload):
    """Whether the access token was revoked (by logout) before it expired."""
    jti = payload.get("jti")
    return jti is not None and revocations.is_revoked(jti)


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
