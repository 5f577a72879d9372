"""Secrets: the key that signs access tokens (kept beside the database when not
configured), and the digest stored in place of a token or an API key."""

import hashlib
import os
import secrets
import tempfile


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


def digest(secret):
    """The SHA-256 (hex) of a token or key: what is stored instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
