"""Egress rules for tenant-named URLs (server-side request forgery)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from raylane.config import Settings
from raylane.infra.egress import EgressDenied, address_refusal, check_url, egress_client


async def test_metadata_address_refused_even_when_private_allowed() -> None:
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
        "http://[::ffff:a9fe:a9fe]/",
    ):
        with pytest.raises(EgressDenied, match="link-local"):
            await check_url(url, allow_private=True)


async def test_private_address_refused_without_allow_private() -> None:
    for url in (
        "http://10.0.0.5:8080/agent",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[fd00::1]/",  # unique-local
        "http://[::ffff:10.0.0.5]/",
    ):
        with pytest.raises(EgressDenied, match="private"):
            await check_url(url, allow_private=False)
        await check_url(url, allow_private=True)


async def test_localhost_allowed_only_with_allow_private() -> None:
    await check_url("http://localhost:8000/agent", allow_private=True)
    await check_url("http://127.0.0.1:8000/agent", allow_private=True)
    with pytest.raises(EgressDenied, match=r"resolves to 127\.0\.0\.1"):
        await check_url("http://localhost:8000/agent", allow_private=False)
    with pytest.raises(EgressDenied, match="loopback"):
        await check_url("http://[::1]/", allow_private=False)


async def test_always_refused_ranges() -> None:
    for url in (
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
    ):
        with pytest.raises(EgressDenied):
            await check_url(url, allow_private=True)


async def test_scheme_and_userinfo_refused() -> None:
    for url, reason in (
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("http://user:pw@8.8.8.8/", "credentials"),
        ("http://user@8.8.8.8/", "credentials"),
        ("http:///path", "no host"),
    ):
        with pytest.raises(EgressDenied, match=reason):
            await check_url(url, allow_private=True)


async def test_public_address_allowed_and_unresolvable_refused() -> None:
    await check_url("https://8.8.8.8/v1", allow_private=False)
    await check_url("https://[2606:4700:4700::1111]/", allow_private=False)
    with pytest.raises(EgressDenied, match="does not resolve"):
        await check_url("http://no-such-host.invalid/", allow_private=True)


async def test_any_refused_answer_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with one public and one private answer is refused (all answers are checked)."""
    import asyncio
    import socket

    async def fake_getaddrinfo(host, port, **kwargs):  # type: ignore[no-untyped-def]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(EgressDenied, match=r"169\.254\.169\.254"):
        await check_url("http://mixed.example.com/", allow_private=True)


def test_embedded_ipv4_judged_as_itself() -> None:
    for text in ("64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:127.0.0.1"):
        assert address_refusal(ipaddress.ip_address(text), allow_private=False) is not None


async def test_client_checks_every_request_and_follows_no_redirect() -> None:
    """The transport refuses before connecting; a redirect is returned, not followed."""
    async with egress_client(allow_private=False, timeout=2) as client:
        assert client.follow_redirects is False
        with pytest.raises(EgressDenied):
            await client.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(EgressDenied):
            await client.get("http://127.0.0.1:1/")

    seen: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/"})

    from raylane.infra.egress import EgressTransport

    transport = EgressTransport(allow_private=True, inner=httpx.MockTransport(redirect))
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(EgressDenied, match="link-local"):
            await client.get("http://127.0.0.1:9/start")  # the redirect's target is checked
    assert seen == ["http://127.0.0.1:9/start"]


def test_agent_test_settings_default_to_public_targets_only() -> None:
    settings = Settings()
    assert settings.agent_tests.allow_private_targets is False
    assert settings.agent_tests.max_concurrency == 64
    assert settings.agent_tests.default_timeout_s == 60


@pytest.mark.parametrize(
    "url",
    [
        "https://agent.example.com",
        "http://agent.example.com:8080/v1/chat?x=1",
        "https://agent.example.com/a@b/c",  # an "@" in the path is the path's
        "http://10.0.0.5/agent",  # the schema takes it; the egress rule judges the address
    ],
)
def test_the_url_rule_takes_plain_http_urls(url: str) -> None:
    from raylane.schemas.agent_tests import TargetCreate
    from raylane.schemas.endpoints import OpenAILlm

    assert TargetCreate.model_validate({"name": "t", "kind": "http", "url": url}).url == url
    assert OpenAILlm.model_validate({"backend": "openai", "base_url": url, "model": "m"})


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@agent.example.com/",  # credentials
        "https://agent.example.com@169.254.169.254/",  # a host hidden behind userinfo
        "http://agent.example.com\\@169.254.169.254/",  # a backslash parsers disagree on
        "http://[::1]/",  # IPv6 literal: name the host instead
        "http://agent.example.com:port/",
        "http://agent.example.com:123456/",
        "http://agent example.com/",
        "http:///agent",
        "file:///etc/passwd",
    ],
)
def test_the_url_rule_refuses_what_parsers_could_read_two_ways(url: str) -> None:
    from pydantic import ValidationError

    from raylane.schemas.agent_tests import TargetCreate
    from raylane.schemas.endpoints import OpenAILlm

    with pytest.raises(ValidationError):
        TargetCreate.model_validate({"name": "t", "kind": "http", "url": url})
    with pytest.raises(ValidationError):
        OpenAILlm.model_validate({"backend": "openai", "base_url": url, "model": "m"})
