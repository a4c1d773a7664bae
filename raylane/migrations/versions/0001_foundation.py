"""Foundation: organizations, users, memberships, api keys, projects, feature flags, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ["memberships", "api_keys", "projects", "feature_flags", "audit_events"]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE FUNCTION raylane_current_org() RETURNS uuid LANGUAGE sql STABLE AS
        $$ SELECT NULLIF(current_setting('raylane.org_id', true), '')::uuid $$;
        CREATE FUNCTION raylane_platform() RETURNS boolean LANGUAGE sql STABLE AS
        $$ SELECT coalesce(current_setting('raylane.platform', true), '') = 'on' $$;
        """
    )
    op.create_table(
        "organizations",
        *base_columns(tenant=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("region", sa.String(64), nullable=False),
    )
    op.create_table(
        "users",
        *base_columns(tenant=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_platform_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "memberships",
        *base_columns(),
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("organization_id", "user_id"),
    )
    op.create_table(
        "api_keys",
        *base_columns(),
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", pg.ARRAY(sa.String(64)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "projects",
        *base_columns(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.UniqueConstraint("organization_id", "name"),
    )
    op.create_table(
        "feature_flags",
        *base_columns(),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("value", pg.JSONB),
        sa.Column("description", sa.Text),
        sa.UniqueConstraint("organization_id", "key"),
    )
    op.create_table(
        "audit_events",
        *base_columns(),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.Uuid),
        sa.Column("api_key_id", sa.Uuid),
        sa.Column("action", sa.String(100), nullable=False, index=True),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("summary", pg.JSONB, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("ip", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("organization_id", "seq"),
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    _organization_and_user_policies()
    _security_definer_functions()


def _organization_and_user_policies() -> None:
    op.execute(
        """
        ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
        ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
        CREATE POLICY org_read ON organizations FOR SELECT
            USING (id = raylane_current_org() OR raylane_platform());
        CREATE POLICY org_create ON organizations FOR INSERT WITH CHECK (raylane_platform());
        CREATE POLICY org_update ON organizations FOR UPDATE
            USING (id = raylane_current_org() OR raylane_platform());

        ALTER TABLE users ENABLE ROW LEVEL SECURITY;
        ALTER TABLE users FORCE ROW LEVEL SECURITY;
        -- a user is visible where they hold a membership (memberships is itself tenant-scoped)
        CREATE POLICY user_via_membership ON users
            USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));
        """
    )


def _security_definer_functions() -> None:
    # These run as the owner, past row-level security, for the two things that must look across
    # tenants: resolving an API key before the tenant is known, and finding a user by email.
    op.execute(
        """
        CREATE FUNCTION raylane_api_key_lookup(p_prefix text)
        RETURNS TABLE (key_id uuid, organization_id uuid, user_id uuid, secret_hash text,
                       scopes text[], expires_at timestamptz, revoked_at timestamptz,
                       role text, membership_active boolean, is_platform_admin boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.organization_id, k.user_id, k.secret_hash, k.scopes::text[],
                   k.expires_at, k.revoked_at, m.role, m.is_active, u.is_platform_admin
            FROM api_keys k
            JOIN users u ON u.id = k.user_id
            JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = k.organization_id
            WHERE k.prefix = p_prefix
        $$;

        CREATE FUNCTION raylane_ensure_user(p_email text, p_name text) RETURNS uuid
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE uid uuid;
        BEGIN
            IF raylane_current_org() IS NULL THEN
                RAISE EXCEPTION 'raylane_ensure_user needs a tenant';
            END IF;
            INSERT INTO users (id, email, name, is_platform_admin)
                VALUES (gen_random_uuid(), lower(p_email), p_name, false)
                ON CONFLICT (email) DO NOTHING RETURNING id INTO uid;
            IF uid IS NULL THEN
                SELECT id INTO uid FROM users WHERE email = lower(p_email);
            END IF;
            RETURN uid;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS raylane_ensure_user(text, text)")
    op.execute("DROP FUNCTION IF EXISTS raylane_api_key_lookup(text)")
    for table in ["audit_events", "feature_flags", "projects", "api_keys", "memberships", "users"]:
        op.drop_table(table)
    op.drop_table("organizations")
    op.execute("DROP FUNCTION IF EXISTS raylane_platform()")
    op.execute("DROP FUNCTION IF EXISTS raylane_current_org()")
