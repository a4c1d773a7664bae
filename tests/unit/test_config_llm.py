"""A copilot configuration's own LLM: the choice validated, its key sealed and never shown,
counted in the version's digest by fingerprint, carried to the chat request, and turned into
a backend by the host (an egress-checked OpenAI-compatible client)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from raylane.config import Settings
from raylane.core.copilot.engine import ChatRequest, CopilotEngine
from raylane.core.endpoints import configs
from raylane.errors import InvalidInput, ServiceUnavailable
from raylane.infra.llm.external import SEALED_KEY, ExternalBackends
from raylane.infra.llm.openai_compat import OpenAICompatBackend
from raylane.infra.secrets import seal
from raylane.schemas.endpoints import CopilotConfigSpec

KEY = "sk-test-0123456789"


def _spec(**llm: Any) -> CopilotConfigSpec:
    choice = {"backend": "openai", "base_url": "https://llm.example.com/v1", "model": "m"} | llm
    return CopilotConfigSpec.model_validate({"llm": choice})


class TestChoice:
    @pytest.mark.parametrize(
        "llm",
        [
            {"backend": "openai", "model": "m"},  # no URL
            {"backend": "openai", "base_url": "https://x.example.com/v1"},  # no model
            {"backend": "openai", "base_url": "ftp://x.example.com", "model": "m"},
            {"backend": "openai", "base_url": "http://[", "model": "m"},  # not a URL
            {"backend": "openai", "base_url": "https://u:p@x.example.com", "model": "m"},
            {"backend": "openai", "base_url": "https://x.example.com", "model": ""},
            {"backend": "openai", "base_url": "https://x.example.com", "model": "m", "x": 1},
            {
                "backend": "openai",
                "base_url": "https://x.example.com",
                "model": "m",
                "api_key": "a\r\nX-Injected: 1",
            },
            {
                "backend": "openai",
                "base_url": "https://x.example.com",
                "model": "m",
                "timeout_s": 0,
            },
            {"backend": "vllm"},
            {"backend": "platform", "model": "other"},
        ],
    )
    def test_a_bad_choice_is_refused(self, llm: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            CopilotConfigSpec.model_validate({"llm": llm})

    def test_the_platform_llm_is_the_same_version_as_no_choice(self) -> None:
        platform = configs.stored_spec(
            CopilotConfigSpec.model_validate({"llm": {"backend": "platform"}})
        )
        assert platform == configs.stored_spec(CopilotConfigSpec())
        assert configs.digest(platform) == configs.digest(configs.stored_spec(CopilotConfigSpec()))


class TestSealedKey:
    def test_the_key_is_stored_sealed_and_never_shown(self) -> None:
        stored = configs.stored_spec(_spec(api_key=KEY))
        assert KEY not in json.dumps(stored)
        assert SEALED_KEY in stored["llm"]
        shown = configs.public_spec(stored)
        assert shown["llm"]["api_key_set"] is True
        assert SEALED_KEY not in shown["llm"] and KEY not in json.dumps(shown)
        assert configs.public_spec(configs.stored_spec(_spec()))["llm"]["api_key_set"] is False
        assert "llm" not in configs.public_spec(configs.stored_spec(CopilotConfigSpec()))

    def test_the_same_key_is_the_same_version_and_a_new_key_a_new_one(self) -> None:
        once, again = (configs.stored_spec(_spec(api_key=KEY)) for _ in range(2))
        assert once["llm"][SEALED_KEY] != again["llm"][SEALED_KEY]  # sealing is randomised
        assert configs.digest(once) == configs.digest(again)
        other = configs.stored_spec(_spec(api_key=KEY + "x"))
        assert configs.digest(other) != configs.digest(once)
        assert configs.digest(configs.stored_spec(_spec())) != configs.digest(once)
        assert KEY not in configs.digest(once)


class TestRequest:
    def test_the_configuration_names_the_llm_of_the_request(self) -> None:
        stored = configs.stored_spec(_spec(api_key=KEY))
        applied = configs.apply(ChatRequest(question="q"), stored)
        assert applied.llm == stored["llm"]
        assert configs.apply(ChatRequest(question="q"), {}).llm is None

    def test_auto_answers_are_generated_by_a_configurations_own_llm(self) -> None:
        engine = CopilotEngine(
            None,  # type: ignore[arg-type]
            embed=None,  # type: ignore[arg-type]
            generate=None,  # type: ignore[arg-type]
            quota=None,  # type: ignore[arg-type]
            auto_mode="extractive",
        )
        project = uuid.uuid4()
        assert engine.mode(ChatRequest(question="q", project_id=project)) == "extractive"
        own = ChatRequest(question="q", project_id=project, llm={"backend": "openai"})
        assert engine.mode(own) == "generative"
        asked = ChatRequest(
            question="q", project_id=project, llm={"backend": "openai"}, answer_mode="extractive"
        )
        assert engine.mode(asked) == "extractive"
        with pytest.raises(ServiceUnavailable):  # a host that cannot build one says so
            engine._model(own)


class TestBackends:
    def test_a_backend_opens_the_key_and_checks_egress(self) -> None:
        settings = Settings()
        backends = ExternalBackends(settings)
        choice = configs.stored_spec(_spec(api_key=KEY))["llm"]
        backend = backends(choice)
        assert isinstance(backend, OpenAICompatBackend)
        assert backend._headers == {"Authorization": f"Bearer {KEY}"}
        assert backend._allow_private is False  # tenant-named: every request egress-checked
        assert backends(choice) is backend  # built once
        settings.copilot.allow_private_llm = True  # the operator's setting, read at build
        assert backends(choice)._allow_private is True  # type: ignore[attr-defined]

    def test_an_unknown_backend_or_an_unreadable_key_is_refused(self) -> None:
        backends = ExternalBackends(Settings())
        with pytest.raises(InvalidInput):
            backends({"backend": "nope"})
        sealed = seal(KEY, secret_key="another platform key, rotated away")
        with pytest.raises(ValueError):
            backends(
                {"backend": "openai", "base_url": "https://x", "model": "m", SEALED_KEY: sealed}
            )
