"""Settings: secrets per environment, nested environment variables, embedded defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raylane.config import DEV_SECRET, Settings


class TestSettings:
    @pytest.fixture(autouse=True)
    def _clean_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Session fixtures export RAYLANE_* for Ray workers; settings tests start from nothing.
        import os

        for key in [k for k in os.environ if k.startswith("RAYLANE_") or k == "RAY_ADDRESS"]:
            monkeypatch.delenv(key)

    def test_development_accepts_the_default_secret(self) -> None:
        assert Settings(env="development").secret_key.get_secret_value() == DEV_SECRET

    @pytest.mark.parametrize("secret", ["", DEV_SECRET, "short"])
    def test_other_envs_refuse_default_empty_or_short_secrets(self, secret: str) -> None:
        with pytest.raises(ValidationError, match="RAYLANE_SECRET_KEY"):
            Settings(env="production", secret_key=secret)

    def test_nested_env_and_external_urls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RAYLANE_API__PORT", "9999")
        monkeypatch.setenv("RAYLANE_REDIS_URL", "redis://cache:6379/0")
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
        s = Settings()
        assert s.api.port == 9999
        assert not s.embedded_redis and s.embedded_database
        assert s.ray.address == "ray://head:10001"

    def test_storage_defaults_under_the_data_dir(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        assert Settings(data_dir=tmp_path).storage_url == (tmp_path / "objects").as_uri()
