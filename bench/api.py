"""GET /api/v1/projects through Ray Serve vs the same FastAPI app under plain uvicorn.

Both serve the same app on the same embedded Postgres and Redis, in the same run, loaded by wrk
with 1 and 16 concurrent clients. Last line: ``api_ratio=<serve rps / uvicorn rps at 16>``.
Goal: >= 0.8, and added p50 <= 2 ms at 1 client.

    .venv/bin/python bench/api.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Load, free_port, platform_env, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk (Debian package 'wrk')")
    with platform_env() as bench:
        from raylane.client import Client
        from raylane.config import get_settings
        from raylane.infra import runtime
        from raylane.serve.deploy import deploy, wait_http

        settings = get_settings()
        uvicorn_port = free_port()
        uvicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "raylane.serve.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(uvicorn_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=os.environ | bench.env,
        )
        try:
            wait_http(f"http://127.0.0.1:{uvicorn_port}/openapi.json", timeout=60)
            runtime.start_ray(settings)
            serve_url = deploy(settings)
            uvicorn_url = f"http://127.0.0.1:{uvicorn_port}"
            with Client(uvicorn_url, bench.admin_key) as c:
                for i in range(20):
                    c.projects.create(name=f"bench-{i}", description="x" * 100)
            headers = {"Authorization": f"Bearer {bench.admin_key}"}
            results: dict[tuple[str, int], Load] = {}
            for clients in (1, 16):
                for name, base in (("uvicorn", uvicorn_url), ("serve", serve_url)):
                    url = f"{base}/api/v1/projects?limit=20"
                    wrk(url, clients=clients, seconds=2, headers=headers)  # warm-up
                    results[(name, clients)] = wrk(
                        url, clients=clients, seconds=args.seconds, headers=headers
                    )
                    time.sleep(1)
        finally:
            uvicorn.terminate()
            uvicorn.wait(10)
            import ray

            ray.shutdown()  # disconnect before the harness stops the cluster
    print(f"{'server':<8} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for (name, clients), r in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{name:<8} {clients:>7} {r.rps:>9.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}")
    added = results[("serve", 1)].p50_ms - results[("uvicorn", 1)].p50_ms
    print(f"added_p50_ms_at_1_client={added:.2f}")
    print(f"api_ratio={results[('serve', 16)].rps / results[('uvicorn', 16)].rps:.2f}")


if __name__ == "__main__":
    main()
