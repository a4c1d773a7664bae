"""API key tokens: prefixed, hashed with the server secret, malformed ones refused."""

from __future__ import annotations

import pytest

from raylane.core.apikeys import tokens


class TestApiKeyTokens:
    def test_a_token_matches_its_hash_and_nothing_else(self) -> None:
        prefix, token = tokens.new_token()
        assert token.startswith(f"rl_{prefix}_") and tokens.parse_prefix(token) == prefix
        h = tokens.hash_token(token, "s" * 40)
        assert tokens.matches(token, h, "s" * 40)
        assert not tokens.matches(token + "x", h, "s" * 40)
        assert not tokens.matches(token, h, "t" * 40)  # another server secret

    @pytest.mark.parametrize(
        "bad", ["", "rl_", "xx_abcdefabcdef_" + "a" * 40, "rl_short_" + "a" * 40]
    )
    def test_malformed_tokens_have_no_prefix(self, bad: str) -> None:
        assert tokens.parse_prefix(bad) is None
