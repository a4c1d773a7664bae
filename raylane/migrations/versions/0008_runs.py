"""Run scheduling: queued runs are picked fairly across organizations, within a per-organization
limit on running runs, and running runs are followed on a list of their own.

``raylane_runs_needing_attention`` (0002) took the oldest rows of every active status together,
so one organization's long-running runs could fill every pass and stop all new submissions.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# 0002's function, for the downgrade.
_NEEDING_ATTENTION = """
    CREATE FUNCTION raylane_runs_needing_attention(p_limit int)
    RETURNS TABLE (run_id uuid, organization_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT id, organization_id FROM runs
        WHERE status IN ('running', 'cancelling')
           OR (status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
        ORDER BY created_at LIMIT p_limit
    $$;
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION raylane_runs_needing_attention(int)")
    op.execute(
        "CREATE INDEX runs_queued_by_org ON runs (organization_id, created_at, id) "
        "WHERE status = 'queued'"
    )
    op.execute(
        "CREATE INDEX runs_holding_a_job ON runs (id) WHERE status IN ('running', 'cancelling')"
    )
    op.execute(
        """
        -- Due queued runs, organizations taking turns: each organization's oldest due run has
        -- turn 1, its next turn 2, ...; a pass takes turn 1 of every organization before any
        -- turn 2. An organization gets no more runs than its free running slots (running and
        -- cancelling runs hold a Ray job), so its backlog waits queued instead of crowding out
        -- others. The reconciler re-checks the limit under a per-organization lock.
        CREATE FUNCTION raylane_runs_to_submit(p_limit int, p_max_running int)
        RETURNS TABLE (run_id uuid, organization_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            WITH orgs AS (
                SELECT r.organization_id AS org,
                       p_max_running
                       - count(*) FILTER (WHERE r.status IN ('running', 'cancelling')) AS slots
                FROM runs r
                WHERE r.status IN ('queued', 'running', 'cancelling')
                GROUP BY r.organization_id
                HAVING bool_or(r.status = 'queued')
            )
            SELECT q.id, o.org
            FROM orgs o
            CROSS JOIN LATERAL (
                SELECT r.id, r.created_at,
                       row_number() OVER (ORDER BY r.created_at, r.id) AS turn
                FROM runs r
                WHERE r.organization_id = o.org AND r.status = 'queued'
                  AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
                ORDER BY r.created_at, r.id
                LIMIT greatest(o.slots, 0)
            ) q
            ORDER BY q.turn, q.created_at, q.id
            LIMIT p_limit
        $$;

        -- Running and cancelling runs after a cursor, in id order: the reconciler pages through
        -- them pass after pass, so every one is polled however many there are.
        CREATE FUNCTION raylane_runs_to_follow(p_after uuid, p_limit int)
        RETURNS TABLE (run_id uuid, organization_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT r.id, r.organization_id FROM runs r
            WHERE r.status IN ('running', 'cancelling') AND (p_after IS NULL OR r.id > p_after)
            ORDER BY r.id LIMIT p_limit
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION raylane_runs_to_follow(uuid, int)")
    op.execute("DROP FUNCTION raylane_runs_to_submit(int, int)")
    op.execute("DROP INDEX runs_holding_a_job")
    op.execute("DROP INDEX runs_queued_by_org")
    op.execute(_NEEDING_ATTENTION)
