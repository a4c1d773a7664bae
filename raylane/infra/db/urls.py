"""Connection URLs: the application role (RLS applies) and the owner role (migrations)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from raylane.config import Settings, get_settings
from raylane.errors import ServiceUnavailable
from raylane.infra.db import embedded


def _async(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def owner_url(settings: Settings | None = None) -> str:
    """URL of the role that owns the schema: runs migrations, never serves requests."""
    settings = settings or get_settings()
    if not settings.embedded_database:
        return _async(settings.database_owner_url or settings.database_url or "")
    uri = embedded.running_uri(settings.data_dir)
    if uri is None:
        raise ServiceUnavailable("embedded Postgres is not running; start it with `raylane up`")
    return _async(uri)


def app_url(settings: Settings | None = None) -> str:
    """URL of the application role: not superuser, not BYPASSRLS, so row-level security holds."""
    settings = settings or get_settings()
    if not settings.embedded_database:
        return _async(settings.database_url or "")
    return (
        make_url(owner_url(settings))
        .set(username=settings.database_app_role)
        .render_as_string(hide_password=False)
    )


def libpq_url(url: str) -> str:
    """One of these URLs as a plain libpq connection string (psycopg or psql, no SQLAlchemy)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def replica_url(settings: Settings | None = None) -> str:
    """The read replica for analytics reads, or the primary when none is configured."""
    settings = settings or get_settings()
    return (
        _async(settings.database_replica_url)
        if settings.database_replica_url
        else app_url(settings)
    )
