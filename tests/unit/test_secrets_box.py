"""The secret box: sealed values open only under the key that sealed them, intact."""

from __future__ import annotations

import base64

import pytest

from raylane.config import get_settings
from raylane.infra.secrets import SecretUnreadable, open_sealed, seal

KEY_A = "a" * 40
KEY_B = "b" * 40
PLAIN = "Bearer sk-live-0123456789abcdef"


def test_round_trip_under_the_configured_key() -> None:
    token = seal(PLAIN)
    assert open_sealed(token) == PLAIN
    assert open_sealed(seal(PLAIN.encode())) == PLAIN  # bytes in, text out


def test_sealing_twice_gives_different_tokens() -> None:
    assert seal(PLAIN, secret_key=KEY_A) != seal(PLAIN, secret_key=KEY_A)  # random IV


def test_ciphertext_never_contains_the_plaintext() -> None:
    token = seal(PLAIN, secret_key=KEY_A)
    raw = base64.urlsafe_b64decode(token)
    for needle in (PLAIN, "sk-live", "0123456789abcdef"):
        assert needle not in token
        assert needle.encode() not in raw


def test_tampered_token_is_refused() -> None:
    token = seal(PLAIN, secret_key=KEY_A)
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[40] ^= 0x01  # one bit of the ciphertext
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(SecretUnreadable):
        open_sealed(tampered, secret_key=KEY_A)
    with pytest.raises(SecretUnreadable):
        open_sealed(token[:-4], secret_key=KEY_A)  # truncated
    with pytest.raises(SecretUnreadable):
        open_sealed("not a token at all é", secret_key=KEY_A)


def test_token_from_another_key_is_refused_without_echoing_it() -> None:
    token = seal(PLAIN, secret_key=KEY_A)
    with pytest.raises(SecretUnreadable) as raised:
        open_sealed(token, secret_key=KEY_B)
    assert token not in str(raised.value)
    assert PLAIN not in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_the_cipher_key_is_derived_not_the_secret_key() -> None:
    """A Fernet key made directly from the secret key's bytes does not open our tokens."""
    from cryptography.fernet import Fernet, InvalidToken

    secret = get_settings().secret_key.get_secret_value()
    naive = Fernet(base64.urlsafe_b64encode(secret.encode().ljust(32, b"\0")[:32]))
    with pytest.raises(InvalidToken):
        naive.decrypt(seal(PLAIN).encode())
