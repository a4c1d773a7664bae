"""Hash-chained audit events, one chain per organization."""

from raylane.core.audit.service import AuditService, ChainReport, audit_service

__all__ = ["AuditService", "ChainReport", "audit_service"]
