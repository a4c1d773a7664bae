"""Global options, the one client factory, and the error-to-exit-code rule of the CLI.

Exit codes: 0 success, 1 an API or configuration error (printed as ``error: <code>: <detail>``
on stderr), 2 a usage error (bad option or argument).

Tests route every request through a fake transport with :func:`set_transport_factory`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar

import httpx
import typer

from raylane.client import UNSET, Client
from raylane.client._resources import Unset
from raylane.client.errors import RateLimited, RaylaneError, Unauthenticated

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
T = TypeVar("T")
TransportFactory = Callable[[], httpx.BaseTransport]

_transport_factory: TransportFactory | None = None


def set_transport_factory(factory: TransportFactory | None) -> None:
    """Send every CLI request through ``factory()`` instead of the network.

    A test hook: pass a function returning e.g. an ``httpx.MockTransport``; pass None to
    restore real connections.
    """
    global _transport_factory
    _transport_factory = factory


@dataclass(frozen=True)
class GlobalOptions:
    """The options given before the command: ``raylane --profile prod projects list``."""

    profile: str | None = None
    url: str | None = None
    api_key: str | None = None


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The global options of the running invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def make_client(
    *, url: str | None = None, api_key: str | None = None, profile: str | None = None
) -> Client:
    """Build a client the way every command does (the test transport included).

    Raises:
        ConfigError: the profile file is invalid, or the profile or URL is wrong.
    """
    transport = _transport_factory() if _transport_factory is not None else None
    return Client(url, api_key, profile=profile, transport=transport)


@contextmanager
def api(ctx: typer.Context) -> Iterator[Client]:
    """A client for the invocation's global options; API errors inside exit with code 1."""
    opts = global_options(ctx)
    has_key = True
    with reported_errors(lambda: has_key):
        client = make_client(url=opts.url, api_key=opts.api_key, profile=opts.profile)
        has_key = client.has_api_key
        try:
            yield client
        finally:
            client.close()


@contextmanager
def reported_errors(has_key: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """Turn a :class:`RaylaneError` into ``error: <code>: <detail>`` on stderr and exit 1."""
    try:
        yield
    except RaylaneError as exc:
        fail(exc.code, exc.message + _suffix(exc))
        if isinstance(exc, Unauthenticated) and not has_key():
            typer.echo(
                "hint: no API key is configured; run `raylane login` or set RAYLANE_API_KEY",
                err=True,
            )
        raise typer.Exit(1) from None


def given(value: T | None) -> T | Unset:
    """An option's value for an SDK update: not given (None) leaves the field unchanged."""
    return UNSET if value is None else value


def fail(code: str, message: str) -> None:
    """Print one error line on stderr (the caller decides the exit)."""
    # Details can echo tenant input: never let it carry terminal escape sequences.
    clean = "".join(ch if ch.isprintable() else " " for ch in message)
    typer.echo(f"error: {code}: {clean}", err=True)


def confirm_or_abort(question: str, *, yes: bool) -> None:
    """Ask before a destructive action unless ``--yes`` was given; "no" exits 1."""
    if not yes:
        typer.confirm(question, abort=True, err=True)


def _suffix(exc: RaylaneError) -> str:
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return f" (retry after {exc.retry_after:g}s)"
    return ""
