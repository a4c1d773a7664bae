"""Hash-chained audit events, one chain per organization."""

from raylane.core.audit.service import ChainReport, page, record, verify

__all__ = ["ChainReport", "page", "record", "verify"]
