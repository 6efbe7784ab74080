-- Version 1 of semantic memory search: an embedding column (pgvector) on the memories
-- and its HNSW index (IVFFlat on a pgvector older than 0.5). Applied only when the
-- memory service has an embedder, so a server without pgvector never needs it.
-- Placeholders: the quoted table and index names and the embedder's dimensions. The
-- store checks that pgvector can be created before this runs (a clear error if not).
DO $$
DECLARE
    vector_schema name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        -- public when it exists: an extension created in a schema dropped later would
        -- take the embedding column with it.
        IF to_regnamespace('public') IS NOT NULL THEN
            CREATE EXTENSION vector SCHEMA public;
        ELSE
            CREATE EXTENSION vector;
        END IF;
    END IF;
    SELECT n.nspname INTO vector_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'vector';
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS embedding %I.vector(%s)',
                   '{memories}', vector_schema, {embedding_dimensions});
    -- pgvector indexes at most 2000 dimensions; past that the search scans the user's rows.
    IF {embedding_dimensions} > 2000 THEN
        NULL;
    ELSIF EXISTS (SELECT 1 FROM pg_am WHERE amname = 'hnsw') THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw (embedding %I.vector_cosine_ops)',
                       '{memories_embedding_index}', '{memories}', vector_schema);
    ELSE
        EXECUTE format('CREATE INDEX IF NOT EXISTS %s ON %s USING ivfflat (embedding %I.vector_cosine_ops)',
                       '{memories_embedding_index}', '{memories}', vector_schema);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS {vector_schema_versions} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
