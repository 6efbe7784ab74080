-- Version 1 of the memory service: memories, their tombstones, and the indexes search
-- uses. Placeholders in braces are the configured (quoted) table and index names and
-- the text-search configuration (a quoted literal).
CREATE TABLE IF NOT EXISTS {memories} (
    app_name        TEXT        NOT NULL,
    user_id         TEXT        NOT NULL,
    -- '' for memories written with add_memory
    session_id      TEXT        NOT NULL,
    memory_id       TEXT        NOT NULL,
    -- 'event' (from a session's events) or 'entry' (add_memory)
    kind            TEXT        NOT NULL,
    author          TEXT,
    -- epoch seconds: the event's timestamp, or when an entry was written; orders ties
    event_time      DOUBLE PRECISION NOT NULL,
    -- an entry's own timestamp text (events: NULL, formatted from event_time)
    timestamp_text  TEXT,
    content         JSONB       NOT NULL,
    custom_metadata JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    -- the text parts only (no thoughts, no function calls), NFC, scripts spaced apart
    search_text     TEXT        NOT NULL,
    search_vector   TSVECTOR    GENERATED ALWAYS AS
                        (to_tsvector({text_search_config}::regconfig, search_text)) STORED,
    create_time     TIMESTAMPTZ NOT NULL DEFAULT now(),
    update_time     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_name, user_id, session_id, memory_id)
);
CREATE INDEX IF NOT EXISTS {memories_by_time_index}
    ON {memories} (app_name, user_id, event_time DESC);
CREATE INDEX IF NOT EXISTS {memories_by_id_index}
    ON {memories} (app_name, user_id, memory_id);
CREATE INDEX IF NOT EXISTS {memories_vector_index}
    ON {memories} USING gin (search_vector);

CREATE TABLE IF NOT EXISTS {tombstones} (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    memory_id   TEXT        NOT NULL,
    delete_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_name, user_id, memory_id)
);

-- pg_trgm (PostgreSQL's contrib, a trusted extension) indexes text without spaces
-- (Chinese, Japanese, Thai) for ILIKE. Without it, or without the right to create it,
-- the same search runs without that index.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm not created (%): no trigram index on memories', SQLERRM;
        END;
    END IF;
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS %s ON %s USING gin (search_text %I.gin_trgm_ops)',
                       '{memories_trigram_index}', '{memories}', trgm_schema);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS {schema_versions} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
