"""Imports every ORM model so metadata is complete (Alembic, tests)."""

from raylane.core.agenttests.models import (
    AgentCaseResult,
    AgentSuite,
    AgentSuiteVersion,
    AgentTarget,
)
from raylane.core.apikeys.models import ApiKey
from raylane.core.audit.models import AuditEvent
from raylane.core.collections.models import Chunk, Collection, Document
from raylane.core.copilot.models import Conversation, Message
from raylane.core.datasets.models import Dataset, DatasetVersion
from raylane.core.endpoints.models import CopilotConfig, CopilotConfigVersion, Endpoint
from raylane.core.experiments.models import Artifact, Experiment, ExperimentRun, MetricPoint
from raylane.core.flags.models import FeatureFlag
from raylane.core.guardrails.models import GuardrailPolicyRow
from raylane.core.projects.models import Project
from raylane.core.quotas.models import UsageDaily
from raylane.core.registry.models import ModelAlias, ModelVersion, RegisteredModel
from raylane.core.rollouts.models import Rollout
from raylane.core.runs.models import Run
from raylane.core.tenancy.models import Membership, Organization, User
from raylane.infra.db.base import Base

__all__ = [
    "AgentCaseResult",
    "AgentSuite",
    "AgentSuiteVersion",
    "AgentTarget",
    "ApiKey",
    "Artifact",
    "AuditEvent",
    "Base",
    "Chunk",
    "Collection",
    "Conversation",
    "CopilotConfig",
    "CopilotConfigVersion",
    "Dataset",
    "DatasetVersion",
    "Document",
    "Endpoint",
    "Experiment",
    "ExperimentRun",
    "FeatureFlag",
    "GuardrailPolicyRow",
    "Membership",
    "Message",
    "MetricPoint",
    "ModelAlias",
    "ModelVersion",
    "Organization",
    "Project",
    "RegisteredModel",
    "Rollout",
    "Run",
    "UsageDaily",
    "User",
]
