"""Domain errors: each has an HTTP status and a unique code, and survives pickling."""

from __future__ import annotations

import pytest

from raylane import errors
from raylane.serve.errors import STATUS


def test_every_domain_error_has_a_status() -> None:
    classes = errors.RaylaneError.__subclasses__()
    assert classes and all(cls in STATUS for cls in classes), set(classes) - set(STATUS)
    assert len({cls.code for cls in classes}) == len(classes)


@pytest.mark.parametrize(
    "error",
    [
        errors.NotFound("project", "p1"),
        errors.RateLimited("slow down", retry_after=3.5, limit=10, scope="key"),
        errors.GuardrailBlocked("blocked"),
    ],
)
def test_domain_errors_survive_pickling(error: errors.RaylaneError) -> None:
    """Errors cross Ray process boundaries (Serve replicas, actors) by pickle."""
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.detail == error.detail
    assert copy.__dict__ == error.__dict__ and str(copy) == str(error)
