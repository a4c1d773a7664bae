"""Every error code the server can answer turns into its own SDK exception.

The codes are collected from the server, not listed here: the ``code`` of every domain error
class in ``raylane.errors``, and every code literal that ``raylane/serve`` puts into an error
body (``error_response(...)``, ``{"error": "..."}``, the HTTP status table). A new code on the
server without an SDK class fails this test.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import raylane.serve
from raylane import errors as server
from raylane.client import errors as sdk

SERVE = Path(raylane.serve.__file__).parent
# Functions of raylane/serve that build an error body from a literal code.
ERROR_BUILDERS = {"error_response", "_send_error"}


def domain_codes() -> dict[str, type[server.RaylaneError]]:
    """``code`` of each domain error class (the base's own ``error`` excepted)."""
    return {
        cls.code: cls
        for _, cls in inspect.getmembers(server, inspect.isclass)
        if issubclass(cls, server.RaylaneError) and cls is not server.RaylaneError
    }


def _code(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
        return node.value
    return None


def serve_codes() -> dict[str, str]:
    """Each literal error code in raylane/serve, with the file and line it is in."""
    found: dict[str, str] = {}
    for path in sorted(SERVE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ERROR_BUILDERS:
                    candidates += node.args
                    candidates += [kw.value for kw in node.keywords if kw.arg == "code"]
                if name == "get" and getattr(func, "value", None) is not None:
                    target = func.value  # type: ignore[attr-defined]
                    if isinstance(target, ast.Name) and target.id == "_HTTP_CODES":
                        candidates += node.args[1:]  # the fallback code
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "error":
                        candidates.append(value)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_HTTP_CODES" for t in node.targets
            ):
                assert isinstance(node.value, ast.Dict)
                candidates += node.value.values
            for candidate in candidates:
                code = _code(candidate)
                if code is not None:
                    found.setdefault(
                        code,
                        f"{path.relative_to(SERVE.parent.parent)}:{getattr(node, 'lineno', 0)}",
                    )
    return found


DOMAIN = domain_codes()
SERVED = serve_codes()


def test_the_collection_finds_the_known_codes() -> None:
    # Guards the scan itself: if these vanish, the parsing above has stopped seeing them.
    assert {"validation_error", "internal_error", "payload_too_large"} <= set(SERVED)
    assert {"not_found", "wrong_region", "guardrail_blocked"} <= set(DOMAIN)


@pytest.mark.parametrize("code", sorted(set(DOMAIN) | set(SERVED)))
def test_every_server_code_has_its_own_sdk_exception(code: str) -> None:
    where = SERVED.get(code) or f"raylane.errors.{DOMAIN[code].__name__}"
    cls = sdk.ERRORS_BY_CODE.get(code)
    assert cls is not None, f"{code!r} ({where}) has no class in raylane/client/errors.py"
    assert cls is not sdk.RaylaneError
    error = sdk.error_for(code, "detail", status=400)
    assert type(error) is cls and error.code == code


@pytest.mark.parametrize("code", sorted(DOMAIN))
def test_domain_errors_keep_their_names(code: str) -> None:
    # The SDK raises the same exception names the server uses (InvalidInput is the one
    # server-side name the SDK spells as its code: ValidationError).
    name = DOMAIN[code].__name__
    expected = {"InvalidInput": "ValidationError"}.get(name, name)
    assert sdk.ERRORS_BY_CODE[code].__name__ == expected


def test_default_statuses_agree_with_the_server() -> None:
    from raylane.serve.errors import STATUS

    for cls, status in STATUS.items():
        mapped = sdk.ERRORS_BY_CODE[cls.code]
        assert mapped.default_status in (status, None), cls.__name__
        if mapped.default_status is not None:
            # A bare status (a proxy's answer) maps back to this class's own code.
            assert sdk.code_for_status(status) == cls.code
