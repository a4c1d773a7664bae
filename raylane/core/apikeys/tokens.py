"""Key material: ``rl_<prefix>_<secret>``; only an HMAC-SHA256 of the whole token is stored.

HMAC with the server secret (not a slow KDF) is right here: tokens carry 190+ bits of entropy,
so there is nothing to brute-force, and verification stays cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "rl"


def new_token() -> tuple[str, str]:
    """Return ``(prefix, token)``; the prefix identifies the key, the token is shown once."""
    prefix = secrets.token_hex(6)
    return prefix, f"{PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def parse_prefix(token: str) -> str | None:
    """The lookup prefix of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def hash_token(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def matches(token: str, secret_hash: str, secret: str) -> bool:
    return hmac.compare_digest(hash_token(token, secret), secret_hash)
