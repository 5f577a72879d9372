"""Accounts: users, passwords, login lockout, and rotating refresh tokens."""

import math
import secrets
from datetime import datetime, timedelta, timezone

import peewee as pw
from flask import current_app
from flask_jwt_extended import create_access_token
from werkzeug.security import check_password_hash, generate_password_hash

from . import database
from .caches import auth_cache
from .database import writing
from .errors import Conflict, RateLimited, Unauthorized
from .models import LoginFailure, RefreshToken, RevokedToken, User
from .secretkey import digest


BAD_CREDENTIALS = "Invalid username or password."
BAD_REFRESH = "Invalid or expired refresh token."
# Compared against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def create_user(username, password, role="client", permissions=(), now=None):
    """Create a user; a taken username is a Conflict."""
    try:
        with writing():
            return User.create(
                username=username,
                password_hash=generate_password_hash(password),
                role=role,
                permissions=sorted(set(permissions)),
                disabled=False,
                created_at=now or database.now(),
            )
    except pw.IntegrityError:
        raise Conflict(f"Username already exists: {username}") from None


def update_user(user, changes):
    """Apply role, permissions, disabled and password changes to a user; the user as
    stored. The user is read again in the write: two admins changing different fields
    at once both keep their change."""
    values = {field: changes[field] for field in ("role", "disabled") if field in changes}
    if "password" in changes:
        values["password_hash"] = generate_password_hash(changes["password"])
    if "permissions" in changes:
        values["permissions"] = sorted(set(changes["permissions"]))
    with writing():
        user = User.get_by_id(user.id)
        for field, value in values.items():
            setattr(user, field, value)
        user.save(only=[getattr(User, field) for field in values] or None)
        if user.disabled:
            _revoke(RefreshToken.user == user, database.now())
    auth_cache().forget_user(user.id)
    return user


def ensure_admin(password=None, now=None):
    """On an empty users table, create `admin`; return the generated password, if any."""
    with writing():
        if User.select().exists():
            return None
        generated = None if password else secrets.token_urlsafe(16)
        User.create(
            username="admin",
            password_hash=generate_password_hash(password or generated),
            role="admin",
            permissions=[],
            disabled=False,
            created_at=now or database.now(),
        )
    return generated


def check_password(username, password, address=None, now=None):
    """Return the user for good credentials; count failures and lock out repeated ones.

    Failures count per username and client address, so a stranger's guesses lock out
    the stranger, not the owner logging in from elsewhere; a looser ceiling per username
    holds against guesses spread over many addresses."""
    now = now or database.now()
    config = current_app.config
    window = timedelta(minutes=config["JOBSAPI_LOGIN_WINDOW_MINUTES"])
    recent = (LoginFailure.username == username) & (LoginFailure.failed_at > now - window)
    if address is None:
        from_here = LoginFailure.address.is_null()
    else:
        from_here = LoginFailure.address == address
    # Each attempt counts as a failure until its password proves good: checked and
    # recorded in one write, so guesses sent at once (to any instance) cannot all pass
    # the check before the first is recorded.
    with writing():
        _refuse_if_locked(recent & from_here, config["JOBSAPI_LOGIN_MAX_FAILURES"], window, now)
        _refuse_if_locked(recent, config["JOBSAPI_LOGIN_MAX_FAILURES_PER_USER"], window, now)
        LoginFailure.delete().where(
            (LoginFailure.username == username) & (LoginFailure.failed_at <= now - window)
        ).execute()
        LoginFailure.create(username=username, address=address, failed_at=now)
    user = User.get_or_none(User.username == username)
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if not user or not valid or user.disabled:
        raise Unauthorized(BAD_CREDENTIALS)
    # The owner's own mistakes are forgiven; failures from elsewhere keep counting.
    LoginFailure.delete().where((LoginFailure.username == username) & from_here).execute()
    return user


def _refuse_if_locked(condition, limit, window, now):
    """RateLimited, until the oldest of the last `limit` failures leaves the window, when
    `limit` failures match `condition`."""
    failures = list(
        LoginFailure.select(LoginFailure.failed_at)
        .where(condition)
        .order_by(LoginFailure.failed_at.desc())
        .limit(limit)
    )
    if len(failures) >= limit:
        retry_after = math.ceil((failures[-1].failed_at + window - now).total_seconds())
        raise RateLimited("Too many failed logins; try again later.", max(retry_after, 1))


def issue_tokens(user, family=None, now=None):
    """A new access token and a new refresh token (in `family`, or a new chain)."""
    now = now or database.now()
    config = current_app.config
    refresh = secrets.token_urlsafe(32)
    RefreshToken.create(
        user=user,
        family=family or secrets.token_hex(16),
        token_hash=digest(refresh),
        created_at=now,
        expires_at=now + timedelta(days=config["JOBSAPI_REFRESH_TOKEN_DAYS"]),
    )
    return {
        "accessToken": create_access_token(identity=str(user.id)),
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": int(config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
        "user": user,
    }


def refresh_tokens(token, now=None):
    """Rotate a refresh token; reuse of a revoked one revokes its whole chain."""
    now = now or database.now()
    with writing():
        stored = RefreshToken.get_or_none(RefreshToken.token_hash == digest(token))
        if stored is not None and stored.revoked_at is not None:
            # A rotated token came back: someone holds a copy. End the chain (committed).
            _revoke(RefreshToken.family == stored.family, now)
        elif stored is not None and stored.expires_at > now and not stored.user.disabled:
            _revoke(RefreshToken.id == stored.id, now)
            return issue_tokens(stored.user, family=stored.family, now=now)
    raise Unauthorized(BAD_REFRESH)


def logout(token, now=None):
    """Revoke the refresh token's chain; an unknown token is not an error."""
    now = now or database.now()
    with writing():
        stored = RefreshToken.get_or_none(RefreshToken.token_hash == digest(token))
        if stored is not None:
            _revoke(RefreshToken.family == stored.family, now)
    return stored.user if stored else None


def revoke_access_token(claims):
    """Refuse a verified access token from now until it expires (kept by its jti)."""
    expires = datetime.fromtimestamp(claims["exp"], timezone.utc).replace(tzinfo=None)
    RevokedToken.insert(jti=claims["jti"], expires_at=expires).on_conflict_ignore().execute()
    auth_cache().note_revoked(claims["jti"])


def purge_revoked_tokens(now=None):
    """Delete revoked access tokens that have expired anyway; return how many."""
    now = now or database.now()
    return RevokedToken.delete().where(RevokedToken.expires_at <= now).execute()


def _revoke(condition, now):
    RefreshToken.update(revoked_at=now).where(condition & RefreshToken.revoked_at.is_null()).execute()
