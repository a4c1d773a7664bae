"""A box for secrets the platform stores on a tenant's behalf (an agent target's API key).

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, a timestamped token) under a key
derived from the platform's ``secret_key`` with HKDF-SHA256 and a fixed context label. The
secret key itself is never the cipher key: it also keys the API-key HMAC, and a derived key per
purpose keeps one use from weakening the other. Rotating ``secret_key`` makes every sealed value
unreadable (``SecretUnreadable``): those values must be entered again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from raylane.config import get_settings

CONTEXT = b"raylane agent-target secrets v1"
FINGERPRINT_CONTEXT = b"raylane secret fingerprints v1"


class SecretUnreadable(ValueError):
    """A sealed value that cannot be opened: tampered with, truncated, or sealed under another
    platform key."""


def _derive(info: bytes, secret_key: str | None) -> bytes:
    raw = secret_key if secret_key is not None else get_settings().secret_key.get_secret_value()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw.encode())


def _fernet(secret_key: str | None = None) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(CONTEXT, secret_key)))


def fingerprint(plaintext: str, *, secret_key: str | None = None) -> str:
    """A keyed digest of a secret (HMAC-SHA256 under its own derived key): equal secrets give
    equal fingerprints, so a content-addressed record can tell a changed secret from the same
    one, while the fingerprint alone cannot be checked against guesses without the key."""
    key = _derive(FINGERPRINT_CONTEXT, secret_key)
    return hmac.new(key, plaintext.encode(), hashlib.sha256).hexdigest()


def seal(plaintext: bytes | str, *, secret_key: str | None = None) -> str:
    """Encrypt ``plaintext`` under the platform key; the token is ASCII, safe to store as text.

    ``secret_key`` overrides the configured key (tests, key rotation tooling).
    """
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    return _fernet(secret_key).encrypt(data).decode("ascii")


def open_sealed(token: str, *, secret_key: str | None = None) -> str:
    """The plaintext of a token made by :func:`seal`.

    Raises:
        SecretUnreadable: the token was altered or sealed under another key. The message names
            neither the token nor any part of the plaintext.
    """
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:  # ValueError: not ASCII, not UTF-8
        raise SecretUnreadable(
            "a stored secret could not be decrypted: it was altered, or sealed under another "
            "RAYLANE_SECRET_KEY (enter it again)"
        ) from exc
