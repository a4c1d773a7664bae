"""The console's endpoints and rollouts pages in a real headless Chromium against the API on a
real port. No Ray, so no orchestrator: a started rollout stays at its first step until the page
(or the test, through the API) moves it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.browser import PHONE, browser, new_page, screenshot, sign_in  # noqa: F401
from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)
from tests.integration.test_console_browser import XSS, call, member_key, new_project

pytestmark = pytest.mark.timeout(300)


def ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def model_endpoint(live: LiveApi, token: str) -> dict[str, Any]:
    """A project, a registered model with versions 1 and 2, and a model endpoint on version 1
    (the artifact is never loaded: nothing is served here)."""
    project = new_project(live, token)
    experiment = ok(
        call(
            live,
            token,
            "POST",
            f"/api/v1/projects/{project['id']}/experiments",
            json={"name": "nb"},
        )
    )
    run = ok(call(live, token, "POST", f"/api/v1/experiments/{experiment['id']}/runs", json={}))
    ok(
        call(
            live,
            token,
            "POST",
            f"/api/v1/experiment-runs/{run['id']}/artifacts",
            files={"file": ("model.safetensors", b"weights")},
            data={"path": "model/model.safetensors"},
        )
    )
    name = f"m-{uuid.uuid4().hex[:8]}"
    ok(call(live, token, "POST", "/api/v1/models", json={"name": name}))
    for _ in range(2):
        ok(
            call(
                live,
                token,
                "POST",
                f"/api/v1/models/{name}/versions",
                json={"experiment_run_id": run["id"], "artifact_path": "model/model.safetensors"},
            )
        )
    return ok(
        call(
            live,
            token,
            "POST",
            f"/api/v1/projects/{project['id']}/endpoints",
            json={
                "name": f"checkout-{uuid.uuid4().hex[:4]}",
                "kind": "model",
                "subject": name,
                "stable": "1",
            },
        )
    )


def failing_analysis(
    services: Any, endpoint_id: str, step_started_at: str, interval_s: int
) -> None:
    """Healthy stable traffic and a canary failing half its requests in the step's window, as
    the router records them, then one orchestrator pass at the window's end."""
    from raylane.core.endpoints import stats
    from raylane.core.rollouts import orchestrate
    from raylane.infra import kv as kv_adapter
    from raylane.infra.db import session as db_session

    t = datetime.fromisoformat(step_started_at)

    async def go() -> None:
        kv = kv_adapter.async_client(kv_adapter.redis_url(services))
        before = set(db_session._databases)
        try:
            for version, errors in (("1", 0), ("2", 10)):
                for i in range(20):
                    await stats.record(
                        kv,
                        endpoint_id=endpoint_id,
                        version=version,
                        ok=i >= errors,
                        latency_ms=40.0,
                        at=t.timestamp(),
                    )
            await orchestrate.tick(services, now=t + timedelta(seconds=interval_s), kv=kv)
        finally:
            await kv.aclose()
            # the pass's engine belongs to this thread's loop: close it here
            for url in set(db_session._databases) - before:
                await db_session._databases.pop(url).dispose()

    # Playwright's sync API runs an event loop in this thread: run ours in another one.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(go())
        except BaseException as exc:  # reported in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not failures, failures


@pytest.fixture
def rollout(live_api: LiveApi) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:  # noqa: F811
    """A model endpoint with a running rollout of version 2 (steps 10, 50, 100), aborted after
    the test so nothing is left running on the shared database."""
    endpoint = model_endpoint(live_api, live_api.token)
    started = ok(
        call(
            live_api,
            live_api.token,
            "POST",
            f"/api/v1/endpoints/{endpoint['id']}/rollouts",
            json={"canary": 2, "policy": {"steps": [10, 50], "interval_s": 3600}},
        ),
        202,
    )
    yield endpoint, started
    call(live_api, live_api.token, "POST", f"/api/v1/rollouts/{started['id']}/abort")


class TestRollouts:
    def test_endpoint_page_shows_the_split_and_the_stepper_and_pauses_from_the_ui(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
        rollout: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        endpoint, started = rollout
        page, watch = new_page(browser)
        sign_in(page, live_api.url, live_api.token, "/console/rollouts")
        page.get_by_label("Project").select_option(endpoint["project_id"])
        row = page.get_by_test_id("endpoints").get_by_role("row").filter(has_text=endpoint["name"])
        row.get_by_text("10%").wait_for()  # the canary's weight in the list
        row.get_by_role("link", name=endpoint["name"]).click()
        page.get_by_role("heading", name=endpoint["name"]).wait_for()

        split = page.get_by_test_id("split")
        split.wait_for()
        assert split.get_attribute("data-weight") == "10"
        assert "canary v2 10%" in split.locator("figcaption").inner_text()
        stepper = page.get_by_test_id("stepper")
        assert stepper.get_attribute("data-steps") == "3"  # 100 is added as the last step
        assert stepper.get_attribute("data-current") == "0"
        assert stepper.locator("figcaption").inner_text() == "Step 1 of 3: canary at 10%"
        assert stepper.locator("[aria-current='step']").count() == 1
        page.get_by_test_id("metrics").locator("svg[aria-label='Requests']").wait_for()
        page.get_by_test_id("timeline").get_by_text("started").wait_for()
        assert page.get_by_test_id("rollout-status").inner_text() == "running"

        page.get_by_role("button", name="Pause").click()
        page.get_by_test_id("rollout-status").get_by_text("paused").wait_for()
        page.get_by_role("button", name="Resume").wait_for()
        assert page.get_by_role("button", name="Pause").count() == 0
        page.get_by_test_id("timeline").get_by_text("paused").wait_for()
        read = ok(call(live_api, live_api.token, "GET", f"/api/v1/rollouts/{started['id']}"), 200)
        assert read["status"] == "paused"
        watch.assert_clean()

    def test_the_page_follows_a_change_made_elsewhere_by_polling(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
        rollout: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        _, started = rollout
        page, watch = new_page(browser)
        sign_in(page, live_api.url, live_api.token, f"/console/rollouts/{started['id']}")
        page.get_by_test_id("rollout-status").get_by_text("running").wait_for()
        ok(call(live_api, live_api.token, "POST", f"/api/v1/rollouts/{started['id']}/promote"), 200)
        page.get_by_test_id("rollout-status").get_by_text("promoted").wait_for()
        assert page.get_by_test_id("stepper").locator("figcaption").inner_text() == (
            "Promoted after 3 steps"
        )
        assert page.get_by_test_id("rollout-actions").count() == 0  # an ended rollout has none
        watch.assert_clean()

    def test_an_analysis_appears_in_the_timeline_with_its_reasons_and_figures(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
        services: Any,
    ) -> None:
        endpoint = model_endpoint(live_api, live_api.token)
        started = ok(
            call(
                live_api,
                live_api.token,
                "POST",
                f"/api/v1/endpoints/{endpoint['id']}/rollouts",
                json={"canary": 2, "policy": {"steps": [10, 50], "interval_s": 60}},
            ),
            202,
        )
        try:
            page, watch = new_page(browser)
            sign_in(
                page, live_api.url, live_api.token, f"/console/rollouts/endpoints/{endpoint['id']}"
            )
            page.get_by_test_id("timeline").get_by_text("started").wait_for()
            assert page.get_by_test_id("failed-analyses").inner_text() == "0 / 2"

            failing_analysis(services, endpoint["id"], started["step_started_at"], 60)

            # the page polls: the failed analysis arrives without a reload
            timeline = page.get_by_test_id("timeline")
            timeline.get_by_text("canary error rate 0.500 above 0.050").wait_for()
            entry = timeline.locator("li.panel").filter(has_text="analysis").first
            assert "failed" in entry.locator(".badge").inner_text()
            assert "canary:" in entry.locator("p.mono").inner_text()  # its figures
            page.get_by_test_id("failed-analyses").get_by_text("1 / 2").wait_for()
            assert page.get_by_test_id("rollout-status").inner_text() == "running"
            # and the metrics followed: the canary's 20 requests in the window
            requests = page.get_by_test_id("metrics").locator("svg[aria-label='Requests']")
            requests.locator("title", has_text="canary v2: 20").wait_for(state="attached")
            screenshot(page, "rollout")
            watch.assert_clean()
        finally:
            call(live_api, live_api.token, "POST", f"/api/v1/rollouts/{started['id']}/abort")

    def test_a_viewer_sees_the_rollout_but_no_action_buttons(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
        rollout: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        endpoint, started = rollout
        viewer = member_key(live_api, "viewer")
        page, watch = new_page(browser, viewport=PHONE)
        sign_in(page, live_api.url, viewer, f"/console/rollouts/endpoints/{endpoint['id']}")
        page.get_by_test_id("stepper").wait_for()
        page.get_by_test_id("split").wait_for()
        page.get_by_test_id("rollouts").wait_for()
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"], f"the page is {overflow}px wide on a 390px phone"
        for name in ("Pause", "Resume", "Promote now", "Abort", "Start a rollout"):
            assert page.get_by_role("button", name=name).count() == 0, name
        assert page.get_by_test_id("rollout-actions").count() == 0
        page.goto(f"{live_api.url}/console/rollouts/{started['id']}")
        page.get_by_test_id("stepper").wait_for()
        assert page.get_by_role("button", name="Pause").count() == 0
        watch.assert_clean()

    def test_start_a_rollout_from_the_endpoint_page(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
    ) -> None:
        endpoint = model_endpoint(live_api, live_api.token)
        page, watch = new_page(browser)
        sign_in(page, live_api.url, live_api.token, f"/console/rollouts/endpoints/{endpoint['id']}")
        page.get_by_text("No rollouts on this endpoint yet.").wait_for()
        assert page.get_by_test_id("split").get_attribute("data-weight") == "0"
        page.get_by_role("button", name="Start a rollout").click()
        page.get_by_label("Canary version").fill("2")
        page.get_by_label("Steps (canary weight per step, %)").fill("20, 60")
        page.get_by_label("Analysis interval (seconds)").fill("3600")
        # a suite with no minimum score is refused before any request
        page.get_by_label("Agent-test suite (optional)").fill(XSS)
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("alert").get_by_text("A suite needs a minimum score.").wait_for()
        page.get_by_label("Agent-test suite (optional)").fill("")
        page.get_by_role("button", name="Start", exact=True).click()
        stepper = page.get_by_test_id("stepper")
        stepper.wait_for()
        assert stepper.locator("figcaption").inner_text() == "Step 1 of 3: canary at 20%"
        page.get_by_test_id("split").and_(page.locator("[data-weight='20']")).wait_for()
        listed = call(
            live_api, live_api.token, "GET", f"/api/v1/endpoints/{endpoint['id']}/rollouts"
        )
        assert listed.status_code == 200, listed.text
        rollouts: list[dict[str, Any]] = listed.json()
        assert [r["policy"]["steps"] for r in rollouts] == [[20, 60, 100]]
        call(live_api, live_api.token, "POST", f"/api/v1/rollouts/{rollouts[0]['id']}/abort")
        assert page.locator("img").count() == 0
        watch.assert_clean()

    def test_another_tenants_endpoint_and_rollout_are_the_not_found_page(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
        rollout: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        endpoint, started = rollout
        other = ok(
            httpx.post(
                live_api.url + "/api/v1/organizations",
                headers={"Authorization": f"Bearer {live_api.admin_token}"},
                json={
                    "name": "Other",
                    "slug": f"other-{uuid.uuid4().hex[:6]}",
                    "owner_email": "o@other.example.com",
                },
            )
        )
        page, watch = new_page(browser)
        sign_in(
            page,
            live_api.url,
            other["owner_api_key"],
            f"/console/rollouts/endpoints/{endpoint['id']}",
        )
        page.get_by_test_id("not-found").wait_for()
        seen = page.get_by_test_id("not-found").inner_text()
        assert endpoint["name"] not in page.content()
        page.goto(f"{live_api.url}/console/rollouts/{started['id']}")
        page.get_by_test_id("not-found").wait_for()
        assert page.get_by_test_id("not-found").inner_text() == seen
        page.goto(f"{live_api.url}/console/rollouts/endpoints/{uuid.uuid4()}")
        page.get_by_test_id("not-found").wait_for()
        assert page.get_by_test_id("not-found").inner_text() == seen
        watch.assert_clean()

        # the owner's own key opens the same URL
        mine, watch = new_page(browser)
        sign_in(mine, live_api.url, live_api.token, f"/console/rollouts/endpoints/{endpoint['id']}")
        mine.get_by_role("heading", name=endpoint["name"]).wait_for()
        assert mine.get_by_test_id("not-found").count() == 0
        watch.assert_clean()


class TestCopilotEndpoint:
    def test_the_page_shows_what_each_configuration_version_answers_with(
        self,
        live_api: LiveApi,  # noqa: F811  (first: it starts its event loop before the browser's)
        browser: Any,  # noqa: F811
    ) -> None:
        """Stable: the platform's LLM with a system prompt; canary: the tenant's own LLM, whose
        key the page never shows (the API does not return it)."""
        key = "sk-console-never-shown-7c1d"
        token = live_api.token
        project = new_project(live_api, token)
        configs = f"/api/v1/projects/{project['id']}/copilot-configs"
        ok(
            call(
                live_api,
                token,
                "POST",
                configs,
                json={"name": "bot", "spec": {"system_prompt": "Be brief."}},
            )
        )
        own = {
            "backend": "openai",
            "base_url": "https://1.1.1.1/v1",
            "model": "gpt-x",
            "api_key": key,
        }
        ok(call(live_api, token, "POST", configs, json={"name": "bot", "spec": {"llm": own}}))
        endpoint = ok(
            call(
                live_api,
                token,
                "POST",
                f"/api/v1/projects/{project['id']}/endpoints",
                json={"name": "bot", "kind": "copilot", "subject": "bot", "stable": "1"},
            )
        )
        ok(
            call(
                live_api,
                token,
                "PUT",
                f"/api/v1/endpoints/{endpoint['id']}/split",
                json={"canary": 2, "weight": 10},
            ),
            200,
        )
        page, watch = new_page(browser)
        sign_in(page, live_api.url, token, f"/console/rollouts/endpoints/{endpoint['id']}")
        table = page.get_by_test_id("config-versions")
        table.wait_for()
        stable = table.get_by_role("row").filter(has_text="stable")
        canary = table.get_by_role("row").filter(has_text="canary")
        assert "the platform's LLM" in stable.inner_text() and "Be brief." in stable.inner_text()
        assert "gpt-x at https://1.1.1.1/v1 (key set)" in canary.inner_text()
        assert key not in page.content()
        watch.assert_clean()
