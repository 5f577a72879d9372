"""Idempotency keys on job creation: the same key and body from the same user within
KEEP answers the first response again and creates nothing; the same key with another
body is refused (IdempotencyMismatch)."""

import datetime as dt
import hashlib
import json

from . import database
from .errors import IdempotencyMismatch
from .models import IdempotencyKey

KEEP = dt.timedelta(hours=24)


def body_digest(body):
    """The SHA-256 of a JSON body, its keys sorted: the same body however written."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored(user, key, digest, now=None):
    """(status, response text) first answered to this key and body within KEEP, or None;
    IdempotencyMismatch when the key came with another body. Call in a write
    transaction that also runs the request and `remember`s its answer."""
    now = now or database.now()
    record = IdempotencyKey.get_or_none((IdempotencyKey.user_id == user.id)
                                        & (IdempotencyKey.key == key))
    if record is None or record.created_at <= now - KEEP:
        return None
    if record.request_hash != digest:
        raise IdempotencyMismatch(key)
    return record.status, record.response


def remember(user, key, digest, status, response, now=None):
    """Keep the answer to a request with this key (replacing one older than KEEP)."""
    now = now or database.now()
    fields = [IdempotencyKey.request_hash, IdempotencyKey.status, IdempotencyKey.response,
              IdempotencyKey.created_at]
    IdempotencyKey.insert(user_id=user.id, key=key, request_hash=digest, status=status,
                          response=response, created_at=now).on_conflict(
        conflict_target=[IdempotencyKey.user_id, IdempotencyKey.key], preserve=fields).execute()


def purge(now=None):
    """Forget the answers older than KEEP; return how many."""
    now = now or database.now()
    return IdempotencyKey.delete().where(IdempotencyKey.created_at <= now - KEEP).execute()
