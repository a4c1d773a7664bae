"""KubeRay deployment: workloads, manifest rendering and offline validation.

``workloads`` is imported by the runtime (local head, jobs, Serve); the rest only by the
``raylane cluster`` commands and tests.
"""
