"""One typed Settings object for the whole platform (prefix ``RAYLANE_``, nesting with ``__``)."""

from __future__ import annotations

import os
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "raylane-development-secret-change-me"


def _loopback() -> list[IPvAnyNetwork]:
    return [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]


class ApiSettings(BaseModel):
    """The HTTP edge."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=200, ge=1)
    # Seconds an API process may reuse a key it authenticated; changes to keys, roles and
    # members reach every process at once regardless (see core/apikeys/gate.py). 0: no cache.
    auth_cache_s: float = Field(default=30.0, ge=0)
    # Peers whose X-Forwarded-For is believed (CIDRs). Serve's proxy runs on the same machine,
    # so loopback only; add a load balancer's range when one sits in front.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=_loopback)


class RateLimitSettings(BaseModel):
    """Requests per minute allowed per API key and per organization (GCRA in Redis)."""

    enabled: bool = True
    key_per_minute: int = Field(default=1200, ge=1)
    key_burst: int = Field(default=100, ge=1)
    org_per_minute: int = Field(default=6000, ge=1)
    org_burst: int = Field(default=500, ge=1)


class RaySettings(BaseModel):
    """The local Ray head that ``raylane up`` starts; ``RAY_ADDRESS`` points elsewhere instead."""

    # Ray's own variable, read as-is (no RAYLANE_ prefix): an existing cluster, not a local head.
    address: str | None = Field(default_factory=lambda: os.environ.get("RAY_ADDRESS") or None)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8265
    # The Job API of an existing cluster (e.g. http://raylane-head-svc:8265); None: the local head.
    dashboard_url: str | None = None
    gcs_port: int = 6380
    client_port: int = 10001
    dashboard_agent_port: int = 52365
    namespace: str = "raylane"
    num_cpus: int | None = None
    # Serve's fast path (measured: ~0.1x of plain uvicorn without it, ~0.9x with it).
    throughput_optimized: bool = True
    haproxy: bool = True
    haproxy_stats_port: int = 8404
    haproxy_metrics_port: int = 9101
    # Serve's fallback proxy (used beside HAProxy); distinct ports let stacks share a machine.
    fallback_proxy_port: int = 8500
    fallback_proxy_grpc_port: int = 9500


class StorageSettings(BaseModel):
    """Object storage: ``file://`` (default, under the data dir) or ``s3://bucket/prefix``."""

    url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None


class DocumentSettings(BaseModel):
    """Defaults and limits for collections (each collection fixes its own at creation)."""

    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_documents: int = Field(default=10_000, ge=1)
    chunk_max_tokens: int = Field(default=200, ge=16, le=512)
    chunk_overlap: int = Field(default=40, ge=0)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Each uploaded file is parsed in a child process with these bounds (see
    # core/documents/sandbox.py): past them the upload is refused (422 or 413), never a stall.
    parse_timeout_s: float = Field(default=45.0, gt=0)
    parse_cpu_s: int = Field(default=30, ge=1)
    parse_memory_bytes: int = Field(default=1024 * 1024 * 1024, ge=64 * 1024 * 1024)
    max_pdf_pages: int = Field(default=2000, ge=1)


class EmbeddingSettings(BaseModel):
    """Embedding models tenants may choose by name; values are local model directories.

    The built-in ``all-MiniLM-L6-v2`` ships inside an installed package; operators add others
    (any sentence-transformers directory) here. Nothing is ever downloaded.
    """

    default_model: str = "all-MiniLM-L6-v2"
    models: dict[str, str] = Field(default_factory=dict)
    batch_size: int = Field(default=64, ge=1)
    # Torch threads per embedding actor (default: the CPUs the embeddings workload reserves).
    threads: int | None = None
    # Embedding actors per ingest run (each loads the model once). Default: one per ``threads``
    # CPUs of the machine the job's driver runs on, no more than the cluster can hold at once
    # (right for one machine; set it on a cluster). Never more than the run has batches.
    ingest_actors: int | None = Field(default=None, ge=1)


class LLMSettings(BaseModel):
    """The LLM behind the copilot: llama.cpp in-process (default) or an OpenAI-compatible API."""

    backend: Literal["llamacpp", "openai"] = "llamacpp"
    # llamacpp: a GGUF file; default: SmolLM2-135M-Instruct shipped in an installed package.
    model_path: str | None = None
    model_name: str = "smollm2-135m-instruct"
    context_tokens: int = Field(default=4096, ge=512)
    threads: int | None = None
    # openai: any OpenAI-compatible endpoint (vLLM, Ray Serve LLM, a hosted API).
    base_url: str | None = None
    api_key: SecretStr | None = None
    openai_model: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    default_max_tokens: int = Field(default=256, ge=1)
    max_tokens_limit: int = Field(default=1024, ge=1)
    # What a copilot answer with ``answer_mode: auto`` is: ``extractive`` (quoted from the
    # retrieved passages), ``generative`` (the model writes it), or ``auto``: extractive for the
    # bundled small model (SmolLM2-135M invents and loops when it writes), generative otherwise.
    grounding: Literal["auto", "extractive", "generative"] = "auto"
    # llama.cpp: a penalty on tokens already generated (1.0: none); curbs small models' loops.
    repeat_penalty: float = Field(default=1.15, ge=1.0, le=2.0)


class QuotaSettings(BaseModel):
    """Tokens (input + output) an organization may use per UTC day; 0 means unlimited."""

    daily_tokens: int = Field(default=2_000_000, ge=0)


class CopilotSettings(BaseModel):
    """Chats in flight (the copilot and ``/v1``): a cap per organization, counted in Redis.

    A slot is a lease renewed while its chat runs, so a crashed process frees its slots when
    their leases lapse instead of holding them for good.
    """

    max_concurrent_per_org: int = Field(default=8, ge=0)  # 0: no cap
    slot_lease_s: float = Field(default=60.0, ge=1)
    busy_retry_after_s: float = Field(default=2.0, gt=0)
    # A copilot configuration may name its own OpenAI-compatible LLM endpoint (a tenant-named
    # URL): on loopback or private networks only when this is on (an in-cluster vLLM, say).
    # Link-local (cloud metadata), multicast and reserved addresses are refused either way.
    allow_private_llm: bool = False


class GuardrailSettings(BaseModel):
    """The learned injection scorer (MiniLM embeddings + a logistic head, trained on the
    training set only, floor calibrated on the development set) adds no recall over the
    multilingual patterns on the development set and raises false positives on every set it
    was measured on (docs/benchmarks.md); it also costs an embedding of every checked text
    (~14 ms on a CPU, retrieved passages included). Off by default: patterns only."""

    learned_injection: bool = False


class RunSettings(BaseModel):
    """Background runs: retries with exponential backoff, then dead-lettering."""

    max_attempts: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=5.0, ge=0)
    reconcile_interval_s: float = Field(default=1.0, gt=0)
    # Runs of one organization holding a Ray job at once; more wait queued (fairness).
    max_running_per_org: int = Field(default=8, ge=1)


class AgentTestSettings(BaseModel):
    """Agent tests: the agents a run may call and how hard it may call them."""

    # Agents on loopback or private networks (RFC 1918, CGNAT, ULA). Off: a tenant's target
    # must be a public address. Link-local (cloud metadata), multicast and reserved addresses
    # are refused either way (see infra/egress.py).
    allow_private_targets: bool = False
    max_concurrency: int = Field(default=64, ge=1)
    default_timeout_s: float = Field(default=60.0, gt=0)


class Settings(BaseSettings):
    """Raylane configuration. Every field is documented in ``configs/.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix="RAYLANE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".raylane")
    region: str = "local"
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    database_url: str | None = None
    database_owner_url: str | None = None
    # A read replica (same application role) for analytics reads: audit listing, observability.
    database_replica_url: str | None = None
    database_app_role: str = "raylane_app"
    database_pool_size: int = Field(default=10, ge=1)
    redis_url: str | None = None
    api_key_ttl_days: int = Field(default=365, ge=1)
    api: ApiSettings = Field(default_factory=ApiSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    runs: RunSettings = Field(default_factory=RunSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    copilot: CopilotSettings = Field(default_factory=CopilotSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    agent_tests: AgentTestSettings = Field(default_factory=AgentTestSettings)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env != "development" and (not secret or secret == DEV_SECRET or len(secret) < 32):
            raise ValueError(
                "RAYLANE_SECRET_KEY must be set to a random value of at least 32 characters "
                f"outside development (env={self.env})"
            )
        return self

    @property
    def embedded_database(self) -> bool:
        """True when Raylane runs its own Postgres in the data dir."""
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        """True when Raylane runs its own Redis in the data dir."""
        return self.redis_url is None

    @property
    def storage_url(self) -> str:
        """Object storage root; ``file://<data dir>/objects`` unless configured."""
        return self.storage.url or (self.data_dir.resolve() / "objects").as_uri()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
