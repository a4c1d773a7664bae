"""The first-start demo's packaged sample documents."""

from __future__ import annotations


def test_shipped_sample_docs_match_the_docs_folder() -> None:
    """The first-start demo ingests Raylane's own docs: the packaged copies must not go stale."""
    from pathlib import Path

    from raylane.core.bootstrap.service import sample_documents

    docs = Path(__file__).resolve().parents[2] / "docs"
    shipped = sample_documents()
    assert shipped and all((docs / name).read_bytes() == data for name, data in shipped)
