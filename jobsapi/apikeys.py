"""API keys for machines (workers, scripts, monitoring): made, listed, revoked, checked.

A key is shown once, when made; only its SHA-256 is stored. It stands for its user
like an access token until it expires or is revoked, or the user is disabled."""

import datetime as dt
import secrets

from .caches import auth_cache
from . import database
from .database import writing
from .errors import NotFound
from .models import ApiKey, User
from .secretkey import digest

PREFIX = "jak_"  # tells a key from an access token in an Authorization header
LAST_USED_EVERY = dt.timedelta(minutes=1)  # lastUsedAt is written at most this often


def is_api_key(credential):
    return credential.startswith(PREFIX)


def create_key(user, name, days=None, now=None):
    """A new key for `user`: (its row, the key itself, shown this once)."""
    now = now or database.now()
    key = PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(days=days) if days else None
    with writing():
        row = ApiKey.create(user=user.id, name=name, key_hash=digest(key), created_at=now,
                            expires_at=expires)
    return row, key


def list_keys(user):
    """The user's keys that are not revoked, oldest first."""
    return list(ApiKey.select().where((ApiKey.user == user.id) & ApiKey.revoked_at.is_null())
                .order_by(ApiKey.id))


def revoke_key(user, key_id, now=None):
    """Revoke one of the user's keys; NotFound when the user has no such live key."""
    now = now or database.now()
    with writing():
        key = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.user == user.id)
                                 & ApiKey.revoked_at.is_null())
        if key is None:
            raise NotFound(f"API key not found: {key_id}")
        key.revoked_at = now
        key.save()
    auth_cache().forget_key(key.key_hash)
    return key


def user_for_key(key, now=None):
    """The active user a live key stands for, or None; notes when the key was used."""
    now = now or database.now()
    hashed = digest(key)
    found = auth_cache().api_key(hashed, lambda: _lookup(hashed))
    if found is None:
        return None
    key_id, user_id, expires_at, last_used_at = found
    if expires_at is not None and expires_at <= now:
        return None
    if last_used_at is None or now - last_used_at >= LAST_USED_EVERY:
        ApiKey.update(last_used_at=now).where(
            (ApiKey.id == key_id)
            & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at <= now - LAST_USED_EVERY))
        ).execute()
        auth_cache().forget_key(hashed)
    return auth_cache().user(User, user_id, lambda: User.get_or_none(
        (User.id == user_id) & (User.disabled == False)))  # noqa: E712 (SQL, not Python)


def _lookup(hashed):
    key = ApiKey.get_or_none((ApiKey.key_hash == hashed) & ApiKey.revoked_at.is_null())
    return None if key is None else (key.id, key.user_id, key.expires_at, key.last_used_at)
