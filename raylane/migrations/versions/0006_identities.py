"""Per-organization identities; platform powers belong to the platform organization.

A user row now belongs to exactly one organization (tenant-scoped, forced RLS like every
tenant table), so adding a member never finds, adopts or reveals an account of another
organization, and no organization can mint a key that acts as another organization's person.
Platform powers come from ``organizations.is_platform`` (the key's organization), never from a
flag on a user.

Existing data: a user with memberships in several organizations keeps their earliest one and
gets a fresh identity (same email and name) in each of the others, with that organization's
memberships and keys moved to it. The organization owned by a former platform administrator
becomes the platform organization.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from raylane.migrations.ddl import enable_tenant_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE organizations ADD COLUMN is_platform boolean NOT NULL DEFAULT false;
        -- The organization each former platform administrator owned first (the one the first
        -- start created): a later ownership may be exactly the adoption the review found, and
        -- must not become a platform organization.
        UPDATE organizations o SET is_platform = true WHERE o.id IN (
            SELECT (SELECT m.organization_id FROM memberships m
                    WHERE m.user_id = u.id AND m.role = 'owner'
                    ORDER BY m.created_at, m.id LIMIT 1)
            FROM users u WHERE u.is_platform_admin);

        ALTER TABLE users ADD COLUMN organization_id uuid
            REFERENCES organizations(id) ON DELETE CASCADE;
        UPDATE users u SET organization_id = (
            SELECT m.organization_id FROM memberships m WHERE m.user_id = u.id
            ORDER BY m.created_at, m.id LIMIT 1);

        ALTER TABLE users DROP CONSTRAINT users_email_key;
        CREATE TEMP TABLE identity_splits ON COMMIT DROP AS
            SELECT m.id AS membership_id, m.user_id AS old_id, m.organization_id,
                   gen_random_uuid() AS new_id
            FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.organization_id <> u.organization_id;
        INSERT INTO users (id, created_at, updated_at, email, name, is_platform_admin,
                           organization_id)
            SELECT s.new_id, u.created_at, now(), u.email, u.name, false, s.organization_id
            FROM identity_splits s JOIN users u ON u.id = s.old_id;
        UPDATE memberships m SET user_id = s.new_id
            FROM identity_splits s WHERE m.id = s.membership_id;
        UPDATE api_keys k SET user_id = s.new_id
            FROM identity_splits s
            WHERE k.user_id = s.old_id AND k.organization_id = s.organization_id;
        DELETE FROM users WHERE organization_id IS NULL;

        ALTER TABLE users ALTER COLUMN organization_id SET NOT NULL;
        CREATE INDEX ix_users_organization_id ON users (organization_id);
        ALTER TABLE users ADD CONSTRAINT users_organization_email UNIQUE (organization_id, email);
        ALTER TABLE users DROP COLUMN is_platform_admin;
        DROP POLICY user_via_membership ON users;
        DROP FUNCTION raylane_ensure_user(text, text);

        -- Nobody creates a platform organization through the application role.
        DROP POLICY org_create ON organizations;
        CREATE POLICY org_create ON organizations FOR INSERT
            WITH CHECK (raylane_platform() AND NOT is_platform);
        """
    )
    enable_tenant_rls("users")
    op.execute("DROP FUNCTION raylane_api_key_lookup(text)")
    op.execute(
        """
        CREATE FUNCTION raylane_api_key_lookup(p_prefix text)
        RETURNS TABLE (key_id uuid, organization_id uuid, user_id uuid, secret_hash text,
                       scopes text[], expires_at timestamptz, revoked_at timestamptz,
                       role text, membership_active boolean, platform_org boolean,
                       region text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.organization_id, k.user_id, k.secret_hash, k.scopes::text[],
                   k.expires_at, k.revoked_at, m.role, m.is_active, o.is_platform, o.region
            FROM api_keys k
            JOIN users u ON u.id = k.user_id AND u.organization_id = k.organization_id
            JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = k.organization_id
            JOIN organizations o ON o.id = k.organization_id
            WHERE k.prefix = p_prefix
        $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("identities split per organization cannot be merged back safely")
