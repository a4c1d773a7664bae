"""The blocking Python client.

Example::

    from raylane.client import Client, NotFound

    with Client() as client:                     # URL and key from env or ~/.raylane/config.toml
        project = client.projects.create(name="search")
        for key in client.api_keys.iter():
            print(key.name, key.prefix)

Every method may also raise :class:`Unauthenticated` (no or bad key), :class:`PermissionDenied`
(role or scope too narrow), :class:`RateLimited`, :class:`ServiceUnavailable`,
:class:`InternalError` and :class:`APIConnectionError`; the ``Raises`` sections below list
only what is specific to each call.
"""

from __future__ import annotations

from types import TracebackType

import httpx

from raylane.client import _copilot
from raylane.client._http import DEFAULT_TIMEOUT, HttpClient
from raylane.client._resources import HEALTH, ME, send
from raylane.client.config import resolve
from raylane.client.copilot import Copilot
from raylane.client.data import Collections, Documents, Runs
from raylane.client.guardrails import Guardrails
from raylane.client.tenancy import ApiKeys, Organizations, Users
from raylane.client.workspace import Audit, FeatureFlags, Projects
from raylane.schemas.copilot import UsageRead
from raylane.schemas.health import HealthRead
from raylane.schemas.tenancy import MeRead

__all__ = [
    "ApiKeys",
    "Audit",
    "Client",
    "Collections",
    "Copilot",
    "Documents",
    "FeatureFlags",
    "Guardrails",
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
        self.guardrails = Guardrails(self._http)
        self.copilot = Copilot(self._http)

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
        return send(self._http, _copilot.usage(days))

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
