"""Every blocking SDK class and its async twin offer the same calls.

The pairs are found, not listed: each resource module's async classes name their twin, and the
clients' resource attributes are walked, so a resource added later is checked without editing
this file.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import pkgutil
import typing
from importlib import import_module
from typing import Any, get_type_hints

import pytest

import raylane.client.resources
from raylane.client import AsyncClient, ChatOptions, Client
from raylane.client._resources import AsyncResource, SyncResource
from raylane.client.resources.copilot import ChatSettings

RESOURCE_MODULES = [
    import_module(f"raylane.client.resources.{info.name}")
    for info in pkgutil.iter_modules(raylane.client.resources.__path__)
]


def twins() -> list[tuple[type, type]]:
    """(sync class, async class) for every resource and for the clients themselves."""
    pairs: list[tuple[type, type]] = [(Client, AsyncClient)]
    for module in RESOURCE_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, AsyncResource) and cls is not AsyncResource:
                sync = getattr(module, cls.__name__.removeprefix("Async"), None)
                assert sync is not None and issubclass(sync, SyncResource), cls
                pairs.append((sync, cls))
    return pairs


PAIRS = twins()


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def returns_iterator(fn: Any) -> bool:
    origin = typing.get_origin(get_type_hints(fn).get("return"))
    return origin in (collections.abc.Iterator, collections.abc.Generator)


def test_every_resource_module_has_a_pair() -> None:
    # me, health and usage are calls of the clients themselves: shapes only.
    paired = {sync.__module__ for sync, _ in PAIRS}
    shapes_only = {"me", "health", "usage"}
    for module in RESOURCE_MODULES:
        if module.__name__.rsplit(".", 1)[1] not in shapes_only:
            assert module.__name__ in paired, module.__name__


def test_the_clients_hold_twin_resources() -> None:
    sync = Client("http://api.test", "rl_x")
    aio = AsyncClient("http://api.test", "rl_x")
    names = {n for n, v in vars(sync).items() if isinstance(v, SyncResource)}
    assert names == {n for n, v in vars(aio).items() if isinstance(v, AsyncResource)}
    assert len(names) == len(PAIRS) - 1  # every resource class is reachable from the client
    for name in names:
        pair = (type(getattr(sync, name)), type(getattr(aio, name)))
        assert pair in PAIRS, name


@pytest.mark.parametrize(("sync", "aio"), PAIRS, ids=lambda cls: cls.__name__)
class TestTwins:
    def test_same_method_names(self, sync: type, aio: type) -> None:
        expected = set(public_methods(sync)) - {"close"}  # AsyncClient closes with aclose()
        assert set(public_methods(aio)) - {"aclose"} == expected

    def test_same_parameters(self, sync: type, aio: type) -> None:
        for name, method in public_methods(sync).items():
            if name == "close":
                continue
            theirs = inspect.signature(getattr(aio, name)).parameters
            for ours, other in zip(
                inspect.signature(method).parameters.values(), theirs.values(), strict=True
            ):
                assert (ours.name, ours.kind, ours.default) == (
                    other.name,
                    other.kind,
                    other.default,
                ), f"{sync.__name__}.{name}"

    def test_async_methods_are_coroutines_or_async_iterators(self, sync: type, aio: type) -> None:
        for name, method in public_methods(sync).items():
            if name == "close":
                continue
            twin = getattr(aio, name)
            if returns_iterator(method):
                assert not inspect.iscoroutinefunction(twin), name
                hint = get_type_hints(twin)["return"]
                assert typing.get_origin(hint) is collections.abc.AsyncIterator, name
            else:
                assert inspect.iscoroutinefunction(twin), f"{aio.__name__}.{name}"

    def test_async_methods_carry_the_sync_docstrings(self, sync: type, aio: type) -> None:
        for name, method in public_methods(sync).items():
            if name != "close":
                assert method.__doc__, f"{sync.__name__}.{name} has no docstring"
                assert getattr(aio, name).__doc__ == method.__doc__, name


def test_chat_settings_are_the_chat_options() -> None:
    # ``**settings`` is typed by ChatSettings and applied onto ChatOptions: one field list.
    fields = {f.name for f in dataclasses.fields(ChatOptions)}
    assert set(ChatSettings.__annotations__) == fields
    assert get_type_hints(ChatSettings) == get_type_hints(ChatOptions)
