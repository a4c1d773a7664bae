"""Deploy the Serve application onto the running Ray cluster (used by ``raylane up``)."""

from __future__ import annotations

import logging
import os
import time

import httpx

from raylane.config import Settings
from raylane.errors import ServiceUnavailable
from raylane.infra.runtime import gcs_address, ray_env


def api_url(settings: Settings) -> str:
    return f"http://{settings.api.host}:{settings.api.port}"


def connect(settings: Settings) -> None:
    """Connect this process to the cluster as a driver in the Raylane namespace."""
    # Ray reads its auth mode when imported: the environment goes first.
    os.environ.update(ray_env(settings))
    import ray

    if not ray.is_initialized():
        ray.init(
            address=gcs_address(settings),
            namespace=settings.ray.namespace,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )


def deploy(settings: Settings, *, timeout: float = 180.0) -> str:
    """Deploy (or update in place) the ``raylane`` Serve app; wait until HTTP answers."""
    connect(settings)
    from ray import serve
    from ray.serve.schema import LoggingConfig

    from raylane.infra.workloads import serve_app
    from raylane.serve.deployments import build_app

    serve.start(
        http_options={"host": settings.api.host, "port": settings.api.port},
        detached=True,
    )
    # Per-request access logs cost more than the request itself on a small machine; Raylane's
    # own metrics and request ids already account for every request.
    logging = LoggingConfig(enable_access_log=False, log_level="WARNING")
    app = serve_app()
    serve.run(
        build_app(),
        name=app.app_name,
        route_prefix=app.route_prefix,
        blocking=False,
        logging_config=logging,
    )
    url = api_url(settings)
    wait_http(f"{url}/openapi.json", timeout=timeout)
    from raylane.actors import rollout_orchestrator
    from raylane.actors.run_reconciler import ensure_running

    ensure_running(settings)
    rollout_orchestrator.ensure_running(settings)
    return url


def wait_http(url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise ServiceUnavailable(f"{url} did not answer within {timeout:.0f} s (last: {last})")
