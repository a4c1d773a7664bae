"""One real rollout through Serve: a model endpoint, traffic sent through
``/endpoints/{id}/predict`` by this test while the platform's own orchestrator actor analyses
and advances it every 2 seconds; the orchestrator is killed mid-rollout (``ray.kill`` by name,
Ray restarts it: ``max_restarts=-1``) and the restarted one finishes it, with no step repeated
or skipped. ``raylane rollouts watch`` then shows the finished rollout and exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.corpus import http_client, new_tenant

pytestmark = pytest.mark.e2e

ARTIFACT = "model/model.safetensors"
# A separate driver with the stack's environment (its Ray address, token, namespace), so this
# test process never joins the cluster itself. It connects first (seconds), then acts on each
# line it reads at once: "kill" (as a crash would: Ray restarts the actor) or "stats".
ORCHESTRATOR = """
import json, sys
from raylane.config import get_settings
from raylane.serve.deploy import connect

settings = get_settings()
connect(settings)  # Ray reads its auth mode when imported: connect first, then import Ray
import ray
from raylane.actors.rollout_orchestrator import NAME

print("ready", flush=True)
for line in sys.stdin:
    actor = ray.get_actor(NAME, namespace=settings.ray.namespace)
    stats = ray.get(actor.stats.remote(), timeout=120)
    if line.strip() == "kill":
        ray.kill(actor, no_restart=False)
    print(json.dumps(stats), flush=True)
"""


class Orchestrator:
    """The platform's orchestrator actor, reached through a driver connected beforehand."""

    def __init__(self, stack: Stack) -> None:
        self._driver = subprocess.Popen(
            [sys.executable, "-c", ORCHESTRATOR],
            env=stack.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._readline("ready", timeout=120)

    def _readline(self, want: str, timeout: float) -> str:
        """The driver's next stdout line starting with ``want`` (Ray may print its own first)."""
        done = threading.Event()
        found: list[str] = []

        def read() -> None:
            assert self._driver.stdout is not None
            for line in self._driver.stdout:
                if line.startswith(want):
                    found.append(line.strip())
                    break
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert done.wait(timeout) and found, "the driver did not answer"
        return found[0]

    def ask(self, command: str) -> dict[str, int]:
        """The actor's stats (its process id, passes); killed right after for ``kill``."""
        assert self._driver.stdin is not None
        self._driver.stdin.write(f"{command}\n")
        self._driver.stdin.flush()
        stats: dict[str, int] = json.loads(self._readline("{", timeout=180))
        return stats

    def close(self) -> None:
        if self._driver.stdin is not None:
            self._driver.stdin.close()
        try:
            self._driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._driver.kill()


def classifier() -> bytes:
    """A servable model artifact (an untrained head over MiniLM)."""
    from raylane.core.training.classifier import Classifier, Head, save_head
    from raylane.infra.embeddings import BUILTIN

    return save_head(Classifier(head=Head(384, 2), labels=["billing", "bug"], encoder=BUILTIN))


def model_endpoint(http: httpx.Client) -> tuple[str, str]:
    """A model with two versions (the same artifact) and an endpoint serving version 1."""
    project = http.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:6]}"}).json()
    r = http.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": "nb"})
    assert r.status_code == 201, r.text
    r = http.post(f"/api/v1/experiments/{r.json()['id']}/runs", json={"name": "by-hand"})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    r = http.post(
        f"/api/v1/experiment-runs/{run_id}/artifacts",
        files={"file": ("model.safetensors", classifier())},
        data={"path": ARTIFACT},
    )
    assert r.status_code == 201, r.text
    name = f"tickets-{uuid.uuid4().hex[:6]}"
    assert http.post("/api/v1/models", json={"name": name}).status_code == 201
    for _ in range(2):
        r = http.post(
            f"/api/v1/models/{name}/versions",
            json={"experiment_run_id": run_id, "artifact_path": ARTIFACT},
        )
        assert r.status_code == 201, r.text
    r = http.post(
        f"/api/v1/projects/{project['id']}/endpoints",
        json={"name": "tickets", "kind": "model", "subject": name, "stable": "1"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), name


class Traffic:
    """Users calling the endpoint until stopped; what answered each call is counted."""

    def __init__(self, stack: Stack, token: str, endpoint_id: str, threads: int = 2) -> None:
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, args=(stack, token, endpoint_id), daemon=True)
            for _ in range(threads)
        ]

    def _send(self, stack: Stack, token: str, endpoint_id: str) -> None:
        with http_client(stack, token) as http:
            while not self._stop.is_set():
                r = http.post(
                    f"/api/v1/endpoints/{endpoint_id}/predict",
                    json={"inputs": ["My invoice was charged twice."]},
                )
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    self.versions[r.headers["X-Raylane-Version"]] += 1
                # A steady user load, inside the key's rate limit (1,200 a minute).
                self._stop.wait(0.1)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.mark.timeout(900)
def test_a_rollout_through_serve_survives_its_orchestrator_being_killed(
    stack: Stack, tmp_path: Path
) -> None:
    token = new_tenant(stack)
    with http_client(stack, token) as http:
        endpoint_id, model = model_endpoint(http)
        # Both versions loaded once before the clock starts (the first load is slow).
        r = http.post(f"/api/v1/endpoints/{endpoint_id}/predict", json={"inputs": ["hello"]})
        assert r.status_code == 200, r.text
        assert r.headers["X-Raylane-Version"] == "1"
        policy = {
            "steps": [30, 60, 100],
            "interval_s": 2,
            # A loaded 2-core machine may serve few requests per window: a window short of
            # requests is only inconclusive, and a few failed ones are tolerated.
            "max_failed_analyses": 5,
            "checks": {"min_requests": 2},
        }
        # The users' own key: polling the rollout does not eat into their rate limit.
        r = http.post("/api/v1/api-keys", json={"name": "traffic"})
        assert r.status_code == 201, r.text
        users = str(r.json()["secret"])
        driver = Orchestrator(stack)
        try:
            with Traffic(stack, users, endpoint_id) as traffic:
                r = http.post(
                    f"/api/v1/endpoints/{endpoint_id}/rollouts",
                    json={"canary": 2, "policy": policy},
                )
                assert r.status_code == 202, r.text
                rollout_id = r.json()["id"]
                killed: dict[str, int] | None = None
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    rollout = http.get(f"/api/v1/rollouts/{rollout_id}").json()
                    if rollout["status"] not in ("running", "paused"):
                        break
                    if killed is None and rollout["step"] >= 1:
                        killed = driver.ask("kill")  # mid-rollout: step 2 of 3
                        interrupted = http.get(f"/api/v1/rollouts/{rollout_id}").json()
                        assert interrupted["status"] == "running", interrupted
                    time.sleep(0.5)
            after = driver.ask("stats")
        finally:
            driver.close()
        assert killed is not None, "the rollout ended before it could be interrupted"
        assert rollout["status"] == "promoted", json.dumps(rollout, indent=1)
        events = rollout["history"]
        # Every step once, in order: the restarted orchestrator neither repeated nor skipped.
        assert [e["step"] for e in events if e["event"] == "step"] == [0, 1, 2]
        passed = [e["step"] for e in events if e.get("verdict") == "pass"]
        assert passed == [0, 1, 2]
        # The orchestrator that finished it is a new instance of the same named actor.
        assert after["pid"] != killed["pid"]
        assert after["passes"] > 0

        endpoint = http.get(f"/api/v1/endpoints/{endpoint_id}").json()
        assert (endpoint["stable_label"], endpoint["canary_weight"]) == ("2", 0)
        assert http.get(f"/api/v1/models/{model}").json()["aliases"]["production"] == 2
        # Users saw both versions and no errors throughout.
        assert set(traffic.statuses) == {200}, traffic.statuses
        assert traffic.versions["1"] > 0 and traffic.versions["2"] > 0

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYLANE_"))}
    env |= {
        "RAYLANE_URL": stack.url,
        "RAYLANE_API_KEY": token,
        "RAYLANE_CONFIG": str(tmp_path / "no-config.toml"),
        "COLUMNS": "400",  # one line per event, unwrapped
    }
    exe = Path(sys.executable).parent / "raylane"
    watch = subprocess.run(
        [str(exe), "rollouts", "watch", rollout_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watch.returncode == 0, watch.stderr
    assert "step 3/3" in watch.stdout and "analysis PASS" in watch.stdout
    assert "promoted" in watch.stdout + watch.stderr
