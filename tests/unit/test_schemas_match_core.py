"""The wire schemas repeat a few of core's vocabularies so that the SDK can validate without
importing the server. These tests tie each copy to core's: a detector added on one side only
fails here, not in a client's request."""

from __future__ import annotations

from typing import get_args

import pytest

from raylane.core.guardrails import detectors as core_detectors
from raylane.core.guardrails import policy as core_policy
from raylane.core.guardrails.injection import DEFAULT_THRESHOLD
from raylane.schemas import guardrails as wire


class TestGuardrailDetectorNames:
    def test_schema_names_every_detector_of_core_and_no_other(self) -> None:
        assert set(wire.DETECTORS) == set(core_policy.DETECTOR_NAMES)

    def test_every_schema_detector_has_a_default_rule_in_core(self) -> None:
        assert set(wire.DETECTORS) == set(core_policy.DEFAULT_RULES)

    def test_every_pattern_detector_of_core_is_a_schema_detector(self) -> None:
        assert set(core_detectors.PII_TYPES) == set(core_detectors.DETECTORS)
        assert set(core_detectors.DETECTORS) <= set(wire.DETECTORS)

    def test_detectors_that_cannot_redact_are_the_same(self) -> None:
        assert wire._NO_REDACT == core_policy._NO_REDACT


class TestGuardrailVocabulary:
    @pytest.mark.parametrize(
        ("literal", "enum"),
        [
            (wire.ActionName, core_policy.Action),
            (wire.StageName, core_policy.Stage),
            (wire.VerdictName, core_policy.Verdict),
        ],
        ids=["action", "stage", "verdict"],
    )
    def test_schema_literal_equals_core_enum(self, literal: object, enum: type) -> None:
        assert set(get_args(literal)) == {member.value for member in enum}

    def test_policy_body_has_the_fields_of_core_policy(self) -> None:
        assert set(wire.GuardrailPolicyBody.model_fields) == set(
            core_policy.GuardrailPolicy.model_fields
        )

    def test_policy_body_defaults_are_core_defaults(self) -> None:
        body, policy = wire.GuardrailPolicyBody(), core_policy.GuardrailPolicy()
        assert body.model_dump(exclude={"detectors"}) == policy.model_dump(exclude={"detectors"})
        assert body.injection_threshold == DEFAULT_THRESHOLD

    def test_a_rule_refused_by_core_is_refused_by_the_schema(self) -> None:
        for name in sorted(core_policy._NO_REDACT):
            with pytest.raises(ValueError, match="can only block or flag"):
                wire.GuardrailPolicyBody.model_validate({"detectors": {name: {"action": "redact"}}})
            with pytest.raises(ValueError, match="can only block or flag"):
                core_policy.GuardrailPolicy.model_validate(
                    {"detectors": {name: {"action": "redact"}}}
                )
