"""Schema upgrades (Alembic, as the owner role) and the application role's grants."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection

from raylane.config import Settings, get_settings
from raylane.errors import InvalidInput
from raylane.infra.db.urls import owner_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

# Privileges the application role gets beyond plain read/write. Audit rows are append-only.
APPEND_ONLY = ("audit_events",)
# Columns the application role may UPDATE (row-level security picks the rows): a user's email
# and organization are fixed, and so is an organization's slug and platform flag.
UPDATABLE_COLUMNS = {"users": "name, updated_at", "organizations": "name, updated_at"}
SECURITY_DEFINERS = (
    "raylane_api_key_lookup(text)",
    "raylane_run_tenant(uuid)",
    "raylane_runs_to_submit(int, int)",
    "raylane_runs_to_follow(uuid, int)",
    "raylane_run_counts()",
    "raylane_object_deletions_due(int)",
    "raylane_purge_idempotency_keys(int)",
    "raylane_rollouts_due(int)",
)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings | None = None, *, revision: str = "head") -> None:
    """Create the app role if missing, migrate to ``revision`` and re-apply grants."""
    settings = settings or get_settings()
    url = owner_url(settings)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            check_owner_role(conn)
            ensure_app_role(conn, settings.database_app_role)
            # Serialise concurrent upgrades (two `raylane up` at once) on one advisory lock.
            conn.execute(text("SELECT pg_advisory_xact_lock(7140001)"))
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            grant_app_role(conn, settings.database_app_role)
    finally:
        engine.dispose()
    log.info("database at %s", revision)


def current_revision(settings: Settings | None = None) -> str | None:
    engine = create_engine(owner_url(settings), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            if exists is None:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def check_owner_role(conn: Connection) -> None:
    """The owner must pass row-level security (FORCE applies to table owners too).

    The SECURITY DEFINER functions run as the owner and must see every tenant's rows.
    """
    row = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not (row.rolsuper or row.rolbypassrls):
        raise InvalidInput(
            "the database owner role (RAYLANE_DATABASE_OWNER_URL) needs BYPASSRLS: "
            "ALTER ROLE <owner> BYPASSRLS"
        )


def ensure_app_role(conn: Connection, role: str) -> None:
    """Create the login role the platform serves requests as: no superuser, no BYPASSRLS."""
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE'))


def grant_app_role(conn: Connection, role: str) -> None:
    q = f'"{role}"'
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {q}"))
    conn.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}")
    )
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}"))
    conn.execute(text(f"REVOKE ALL ON alembic_version FROM {q}"))
    for table in APPEND_ONLY:
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {q}"))
    conn.execute(text(f"REVOKE DELETE, TRUNCATE ON users, organizations FROM {q}"))
    for table, columns in UPDATABLE_COLUMNS.items():
        conn.execute(text(f"REVOKE UPDATE ON {table} FROM {q}"))
        conn.execute(text(f"GRANT UPDATE ({columns}) ON {table} TO {q}"))
    for fn in SECURITY_DEFINERS:
        if conn.execute(text("SELECT to_regprocedure(:fn)"), {"fn": fn}).scalar() is None:
            continue  # not at this revision yet (an upgrade to an older revision)
        conn.execute(text(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC"))
        conn.execute(text(f"GRANT EXECUTE ON FUNCTION {fn} TO {q}"))
