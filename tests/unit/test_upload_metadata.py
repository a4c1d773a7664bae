"""The per-file metadata rule of an upload: one function, read the same by the server's
multipart ``metadata`` field and the CLI's ``--metadata`` (which sends one request per file)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from raylane.cli.documents import _per_file
from raylane.errors import InvalidInput
from raylane.schemas.collections import metadata_per_file
from raylane.serve.routes.collections import _metadata_for

NAMES = ["a.md", "b.md"]

CASES: list[tuple[Any, dict[str, dict[str, Any]]]] = [
    ({"team": "hr"}, {"a.md": {"team": "hr"}, "b.md": {"team": "hr"}}),
    ({"a.md": {"team": "hr"}}, {"a.md": {"team": "hr"}}),
    (
        {"a.md": {"team": "hr"}, "b.md": {"team": "it"}},
        {"a.md": {"team": "hr"}, "b.md": {"team": "it"}},
    ),
    # A key that names no file, or a value that is not an object: one object for every file.
    (
        {"a.md": {"x": 1}, "c.md": {"x": 2}},
        {key: {"a.md": {"x": 1}, "c.md": {"x": 2}} for key in NAMES},
    ),
    ({"a.md": "hr"}, {key: {"a.md": "hr"} for key in NAMES}),
    ({}, {}),
]


class TestMetadataPerFile:
    @pytest.mark.parametrize(("value", "expected"), CASES)
    def test_mapping_by_file_name_or_one_object_for_all(
        self, value: Any, expected: dict[str, dict[str, Any]]
    ) -> None:
        assert metadata_per_file(value, NAMES) == expected

    @pytest.mark.parametrize("value", [[], "team", 3, None])
    def test_not_an_object_is_refused(self, value: Any) -> None:
        with pytest.raises(ValueError, match="JSON object"):
            metadata_per_file(value, NAMES)

    @pytest.mark.parametrize(("value", "expected"), CASES)
    def test_server_and_cli_give_each_file_the_same_metadata(
        self, value: Any, expected: dict[str, dict[str, Any]]
    ) -> None:
        raw = json.dumps(value)
        assert _metadata_for(raw, NAMES) == expected
        assert _per_file(raw, NAMES) == expected

    def test_server_refuses_a_non_object_as_invalid_input(self) -> None:
        with pytest.raises(InvalidInput, match="JSON object"):
            _metadata_for("[1]", NAMES)

    def test_cli_refuses_a_non_object_as_a_bad_parameter(self) -> None:
        with pytest.raises(typer.BadParameter, match="JSON object"):
            _per_file("[1]", NAMES)
