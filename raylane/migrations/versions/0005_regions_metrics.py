"""The API key lookup also returns the organization's region; run counts for metrics.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP FUNCTION raylane_api_key_lookup(text)")
    op.execute(
        """
        CREATE FUNCTION raylane_api_key_lookup(p_prefix text)
        RETURNS TABLE (key_id uuid, organization_id uuid, user_id uuid, secret_hash text,
                       scopes text[], expires_at timestamptz, revoked_at timestamptz,
                       role text, membership_active boolean, is_platform_admin boolean,
                       region text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.organization_id, k.user_id, k.secret_hash, k.scopes::text[],
                   k.expires_at, k.revoked_at, m.role, m.is_active, u.is_platform_admin, o.region
            FROM api_keys k
            JOIN users u ON u.id = k.user_id
            JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = k.organization_id
            JOIN organizations o ON o.id = k.organization_id
            WHERE k.prefix = p_prefix
        $$;

        -- Platform-wide counts for /metrics: numbers only, no tenant data.
        CREATE FUNCTION raylane_run_counts()
        RETURNS TABLE (kind text, status text, runs bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT kind, status, count(*) FROM runs GROUP BY kind, status
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION raylane_run_counts()")
