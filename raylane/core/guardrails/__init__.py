"""Guardrails: PII/secret detectors, prompt-injection scoring, policies and streaming redaction.

Pure logic, no database and no HTTP:

- ``detectors``: validated PII and secret detectors (email, phone, credit card, IBAN, SSN,
  IP address, secrets) and typed redaction (``[EMAIL]``, ``[SECRET]`` ...).
- ``injection``: a weighted-signal prompt-injection / jailbreak scorer.
- ``policy``: the per-organization / per-project ``GuardrailPolicy``, its merge and
  ``evaluate()`` for the input, retrieved-context and output stages.
- ``stream``: ``StreamRedactor``, which redacts a model's output chunk by chunk and emits
  exactly what redacting the whole text at once would.
"""
