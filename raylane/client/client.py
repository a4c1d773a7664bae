"""The Python clients: :class:`Client` (blocking) and :class:`AsyncClient`, one attribute per
resource (:mod:`raylane.client.resources`).

Example::

    from raylane.client import Client, NotFound

    with Client() as client:                     # URL and key from env or ~/.raylane/config.toml
        project = client.projects.create(name="search")
        for key in client.api_keys.iter():
            print(key.name, key.prefix)

    async with AsyncClient() as client:          # the same calls, awaited
        me = await client.me()
        async for event in client.audit.iter_events(action="project.*"):
            print(event.seq, event.action)

Every method may also raise :class:`Unauthenticated` (no or bad key), :class:`PermissionDenied`
(role or scope too narrow), :class:`RateLimited`, :class:`ServiceUnavailable`,
:class:`InternalError` and :class:`APIConnectionError`; the ``Raises`` sections below list
only what is specific to each call.
"""

from __future__ import annotations

from types import TracebackType

import httpx

from raylane.client._http import DEFAULT_TIMEOUT, AsyncHttpClient, HttpClient
from raylane.client._resources import adopt_docs, asend, send
from raylane.client.config import resolve
from raylane.client.resources.agent_tests import AgentTests, AsyncAgentTests
from raylane.client.resources.api_keys import ApiKeys, AsyncApiKeys
from raylane.client.resources.audit import AsyncAudit, Audit
from raylane.client.resources.collections import AsyncCollections, Collections
from raylane.client.resources.copilot import AsyncCopilot, Copilot
from raylane.client.resources.datasets import AsyncDatasets, Datasets
from raylane.client.resources.documents import AsyncDocuments, Documents
from raylane.client.resources.endpoints import AsyncEndpoints, Endpoints
from raylane.client.resources.experiments import AsyncExperiments, Experiments
from raylane.client.resources.flags import AsyncFeatureFlags, FeatureFlags
from raylane.client.resources.guardrails import AsyncGuardrails, Guardrails
from raylane.client.resources.health import HEALTH
from raylane.client.resources.me import ME
from raylane.client.resources.models import AsyncModels, Models
from raylane.client.resources.organizations import AsyncOrganizations, Organizations
from raylane.client.resources.projects import AsyncProjects, Projects
from raylane.client.resources.rollouts import AsyncRollouts, Rollouts
from raylane.client.resources.runs import AsyncRuns, Runs
from raylane.client.resources.training import AsyncTraining, Training
from raylane.client.resources.usage import report as usage_report
from raylane.client.resources.users import AsyncUsers, Users
from raylane.schemas.copilot import UsageRead
from raylane.schemas.health import HealthRead
from raylane.schemas.tenancy import MeRead

__all__ = [
    "ApiKeys",
    "AsyncClient",
    "Audit",
    "Client",
    "Collections",
    "Copilot",
    "Datasets",
    "Documents",
    "Experiments",
    "FeatureFlags",
    "Guardrails",
    "Models",
    "Organizations",
    "Projects",
    "Runs",
    "Users",
]


class Client:
    """Blocking client for the Raylane API.

    Args:
        base_url: API root, e.g. ``http://127.0.0.1:8000``. Defaults to ``RAYLANE_URL``, then
            the active profile, then the local runtime's address.
        api_key: Bearer key (``rl_...``). Defaults to ``RAYLANE_API_KEY``, then the profile.
        profile: Name of a profile in the profile file to use instead of the environment.
        timeout: Seconds, or an ``httpx.Timeout``.
        transport: An httpx transport to send requests through (tests use
            ``httpx.MockTransport``).

    Raises:
        ConfigError: the profile file is invalid or names a missing profile, or the URL is
            malformed.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        resolved = resolve(url=base_url, api_key=api_key, profile=profile)
        self.base_url = resolved.url.rstrip("/")
        self.profile = resolved.profile
        self.has_api_key = resolved.api_key is not None
        self._http = HttpClient(
            resolved.url, api_key=resolved.api_key, timeout=timeout, transport=transport
        )
        self.organizations = Organizations(self._http)
        self.users = Users(self._http)
        self.api_keys = ApiKeys(self._http)
        self.projects = Projects(self._http)
        self.feature_flags = FeatureFlags(self._http)
        self.audit = Audit(self._http)
        self.collections = Collections(self._http)
        self.documents = Documents(self._http)
        self.runs = Runs(self._http)
        self.training = Training(self._http)
        self.agent_tests = AgentTests(self._http)
        self.datasets = Datasets(self._http)
        self.experiments = Experiments(self._http)
        self.models = Models(self._http)
        self.guardrails = Guardrails(self._http)
        self.copilot = Copilot(self._http)
        self.rollouts = Rollouts(self._http)
        self.endpoints = Endpoints(self._http)

    def me(self) -> MeRead:
        """Who the key belongs to: user, organization, role and permissions.

        Raises:
            Unauthenticated: the key is missing, unknown, expired or revoked.
        """
        return send(self._http, ME)

    def usage(self, days: int = 7) -> UsageRead:
        """The organization's copilot usage: requests and tokens per day, and today's quota.

        Args:
            days: Days to report, today included, 1 to 90.

        Returns:
            ``days`` oldest first; ``daily_token_quota`` is 0 when unlimited.

        Raises:
            ValidationError: ``days`` is out of range.
        """
        return send(self._http, usage_report(days))

    def health(self) -> HealthRead:
        """The server's health report; needs no key.

        Returns:
            The report, also when the server is degraded (``status == "degraded"``).

        Raises:
            ServiceUnavailable: the server answered 503 without a health report.
        """
        return send(self._http, HEALTH)

    def close(self) -> None:
        """Close the connection pool; the client is unusable afterwards."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, profile={self.profile!r})"


class AsyncClient:
    """Non-blocking client for the Raylane API; arguments as for :class:`Client`, and each
    method takes the same arguments, returns the same models and raises the same errors as its
    blocking twin.

    Raises:
        ConfigError: the profile file is invalid or names a missing profile, or the URL is
            malformed.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        resolved = resolve(url=base_url, api_key=api_key, profile=profile)
        self.base_url = resolved.url.rstrip("/")
        self.profile = resolved.profile
        self.has_api_key = resolved.api_key is not None
        self._http = AsyncHttpClient(
            resolved.url, api_key=resolved.api_key, timeout=timeout, transport=transport
        )
        self.organizations = AsyncOrganizations(self._http)
        self.users = AsyncUsers(self._http)
        self.api_keys = AsyncApiKeys(self._http)
        self.projects = AsyncProjects(self._http)
        self.feature_flags = AsyncFeatureFlags(self._http)
        self.audit = AsyncAudit(self._http)
        self.collections = AsyncCollections(self._http)
        self.documents = AsyncDocuments(self._http)
        self.runs = AsyncRuns(self._http)
        self.training = AsyncTraining(self._http)
        self.agent_tests = AsyncAgentTests(self._http)
        self.datasets = AsyncDatasets(self._http)
        self.experiments = AsyncExperiments(self._http)
        self.models = AsyncModels(self._http)
        self.guardrails = AsyncGuardrails(self._http)
        self.copilot = AsyncCopilot(self._http)
        self.rollouts = AsyncRollouts(self._http)
        self.endpoints = AsyncEndpoints(self._http)

    async def me(self) -> MeRead:
        return await asend(self._http, ME)

    async def usage(self, days: int = 7) -> UsageRead:
        return await asend(self._http, usage_report(days))

    async def health(self) -> HealthRead:
        return await asend(self._http, HEALTH)

    async def aclose(self) -> None:
        """Close the connection pool; the client is unusable afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r}, profile={self.profile!r})"


adopt_docs(AsyncClient, Client)
