"""Per-collection vector search indexes instead of one HNSW index shared by every collection.

The shared index (``chunks_embedding_384``) filtered by collection after its scan, so a small or
mid-sized collection in a big table lost recall. From here on a collection over the row
threshold gets a partial HNSW index of its own (``chunks_c_<collection hex>``, built by
``SearchIndexService`` after an ingest, with ``CONCURRENTLY``) and a smaller one is searched
exactly through the ``collection_id`` b-tree.

Upgrading drops the shared index: until ``SearchIndexService.reconcile`` (or the collection's
next ingest) builds their own, large collections are searched exactly (correct, slower).
Nothing is built here: a migration holds its locks for the whole build.

The two functions look across tenants for the index upkeep (ids and widths only) and run with
``row_security = off``: where the owner role is bound by the forced policies they fail loudly,
rather than answer "no collections" and have every index dropped as an orphan.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS chunks_embedding_384")
    op.execute(
        """
        CREATE FUNCTION raylane_search_index_due(p_min_rows int)
        RETURNS TABLE (collection_id uuid, dimensions int)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp SET row_security = off AS $$
            SELECT c.id, c.dimensions FROM collections c
            WHERE (SELECT count(*) FROM chunks h WHERE h.collection_id = c.id) >= p_min_rows
        $$;

        CREATE FUNCTION raylane_search_index_orphans()
        RETURNS TABLE (collection_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp SET row_security = off AS $$
            SELECT substr(i.relname, 10)::uuid FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = 'chunks'::regclass
              AND i.relname ~ '^chunks_c_[0-9a-f]{32}$'
              AND NOT EXISTS (
                  SELECT 1 FROM collections c WHERE c.id = substr(i.relname, 10)::uuid)
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS raylane_search_index_orphans()")
    op.execute("DROP FUNCTION IF EXISTS raylane_search_index_due(int)")
    op.execute(
        """
        DO $$
        DECLARE name text;
        BEGIN
            FOR name IN SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                        WHERE x.indrelid = 'chunks'::regclass
                          AND i.relname ~ '^chunks_c_[0-9a-f]{32}$'
            LOOP
                EXECUTE format('DROP INDEX %I', name);
            END LOOP;
        END $$;
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS chunks_embedding_384 ON chunks USING hnsw "
        "((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384"
    )
