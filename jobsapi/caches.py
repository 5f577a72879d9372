"""What most requests look up, kept a moment per app: the token's claims and user, and
whether the token was revoked. A change made in this process is seen at once (the cache is told);
one made by another process on the database (the CLI, a second server) within `ttl`."""

import collections
import threading
import time

from flask import current_app
from playhouse.shortcuts import model_to_dict

REVOKED_FOR = 3600.0  # a revocation is final: remembered as long as a token lives


class ExpiringCache:
    """Values kept until their own expiry time (read from `clock`); past `size` entries
    the oldest go. Shared by the request threads, so every access holds the lock."""

    def __init__(self, clock=time.monotonic, size=4096):
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

    def put(self, key, value, ttl):
        with self._lock:
            self._entries[key] = (self.clock() + ttl, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key):
        with self._lock:
            self._entries.pop(key, None)


class AuthCache:
    """Users by id, API keys by digest and revoked token ids, for `ttl` seconds (0: not
    kept); verified access tokens' claims until the tokens expire."""

    def __init__(self, ttl):
        self.ttl = ttl
        self._users = ExpiringCache()
        self._keys = ExpiringCache()
        self._revoked = ExpiringCache()
        self._claims = ExpiringCache(time.time)

    def user(self, model, user_id, load):
        """The user `load()` finds (or None), from the cache when it is there; a fresh
        instance each time, since callers may change it."""
        data = self._users.get(user_id)
        if data is None:
            user = load()
            if user is not None and self.ttl > 0:
                self._users.put(user_id, model_to_dict(user, recurse=False), self.ttl)
            return user
        return model(**data)

    def forget_user(self, user_id):
        self._users.forget(user_id)

    def claims(self, token):
        """The claims of an access token verified before, until it expires."""
        return self._claims.get(token)

    def note_claims(self, token, claims):
        self._claims.put(token, claims, claims["exp"] - time.time())

    def api_key(self, hashed, load):
        """What `load()` says of the key with this digest (None: no live key)."""
        found = self._keys.get(hashed)
        if found is None:
            found = load()
            if found is not None and self.ttl > 0:
                self._keys.put(hashed, found, self.ttl)
        return found

    def forget_key(self, hashed):
        self._keys.forget(hashed)

    def is_revoked(self, jti, load):
        """Whether the token `jti` is revoked, as `load()` says when not cached."""
        revoked = self._revoked.get(jti)
        if revoked is None:
            revoked = load()
            if revoked or self.ttl > 0:
                self._revoked.put(jti, revoked, REVOKED_FOR if revoked else self.ttl)
        return revoked

    def note_revoked(self, jti):
        """A revocation this process just stored."""
        self._revoked.put(jti, True, REVOKED_FOR)


def init_app(app):
    app.extensions["jobsapi.auth_cache"] = AuthCache(app.config["JOBSAPI_USER_CACHE_SECONDS"])


def auth_cache():
    """The app's AuthCache."""
    return current_app.extensions["jobsapi.auth_cache"]
