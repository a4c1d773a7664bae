"""The domain: one package per domain (models, repository, service). Imports nothing from
serve/, jobs/, actors/, client/, cli/, deploy/ or testing/; adapters come from raylane.infra."""

# Every mapper, whenever the domain is used, so foreign keys between domains resolve.
from raylane.core import models as _models  # noqa: F401
