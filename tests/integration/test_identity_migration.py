"""Migration 0006 on existing data: a person in two organizations becomes two identities, and
nothing acknowledged (memberships, keys) is lost on the way."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from raylane.infra.db import migrate
from raylane.infra.db.urls import libpq_url, owner_url


@pytest.fixture
def scratch_database(services: Any, owner_conn: Any) -> Iterator[Any]:
    """A new database on the embedded server, for migrating from an older revision."""
    name = f"mig_{secrets.token_hex(4)}"
    owner_conn.execute(f"CREATE DATABASE {name}")
    url = make_url(owner_url(services)).set(database=name)
    app = url.set(username=services.database_app_role)
    settings = services.model_copy(
        update={
            "database_url": app.render_as_string(hide_password=False),
            "database_owner_url": url.render_as_string(hide_password=False),
        }
    )
    yield settings
    owner_conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _org(conn: psycopg.Connection, slug: str) -> uuid.UUID:
    org = uuid.uuid4()
    conn.execute(
        "INSERT INTO organizations (id, name, slug, region) VALUES (%s, %s, %s, 'local')",
        (org, slug, slug),
    )
    return org


def _member(
    conn: psycopg.Connection, org: uuid.UUID, user: uuid.UUID, role: str, *, day: int
) -> None:
    conn.execute(
        "INSERT INTO memberships (id, organization_id, user_id, role, created_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (uuid.uuid4(), org, user, role, f"2026-01-{day:02d}T00:00:00Z"),
    )
    conn.execute(
        "INSERT INTO api_keys (id, organization_id, user_id, name, prefix, secret_hash, scopes) "
        "VALUES (%s, %s, %s, 'k', %s, 'h', '{*}')",
        (uuid.uuid4(), org, user, secrets.token_hex(6)),
    )


def test_a_person_in_two_organizations_becomes_two_identities(scratch_database: Any) -> None:
    migrate.upgrade(scratch_database, revision="0005")
    with psycopg.connect(libpq_url(scratch_database.database_owner_url)) as conn:
        platform, other = _org(conn, "platform"), _org(conn, "other")
        admin, alice = uuid.uuid4(), uuid.uuid4()
        conn.execute(
            "INSERT INTO users (id, email, name, is_platform_admin) VALUES "
            "(%s, 'admin@x.example', 'Admin', true), (%s, 'alice@x.example', 'Alice', false)",
            (admin, alice),
        )
        _member(conn, platform, admin, "owner", day=1)  # the first start
        _member(conn, other, admin, "owner", day=2)  # the adoption the review found, as owner
        _member(conn, other, alice, "developer", day=3)

    migrate.upgrade(scratch_database)

    with psycopg.connect(libpq_url(scratch_database.database_owner_url)) as conn:
        users = conn.execute(
            "SELECT organization_id, email, name FROM users ORDER BY email, organization_id"
        ).fetchall()
        assert sorted(users) == sorted(
            [
                (platform, "admin@x.example", "Admin"),
                (other, "admin@x.example", "Admin"),
                (other, "alice@x.example", "Alice"),
            ]
        )
        # Every membership and key points at an identity of its own organization.
        mismatched = conn.execute(
            "SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE u.organization_id <> k.organization_id UNION ALL "
            "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE u.organization_id <> m.organization_id"
        ).fetchall()
        assert mismatched == [(0,), (0,)]
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM memberships").fetchone() == (3,)
        flags = dict(conn.execute("SELECT id, is_platform FROM organizations").fetchall())
        assert flags == {platform: True, other: False}
