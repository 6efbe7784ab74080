-- Version 1 of the artifact tables. Placeholders in braces are the configured (quoted)
-- table and index names.
--
-- A payload is a blob: its bytes in chunks of at most the configured chunk size, named
-- by their sha256 once complete (NULL while a streaming save is writing it, inside that
-- save's transaction). Versions point at blobs; the same bytes saved again share one.
CREATE TABLE IF NOT EXISTS {blobs} (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256      BYTEA       UNIQUE,
    size        BIGINT      NOT NULL DEFAULT 0,
    chunks      INTEGER     NOT NULL DEFAULT 0,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {chunks} (
    blob_id BIGINT  NOT NULL REFERENCES {blobs} (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BYTEA   NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
-- Payloads are often compressed already (images, PDFs): store them out of line as they
-- are instead of trying to compress each chunk.
ALTER TABLE {chunks} ALTER COLUMN data SET STORAGE EXTERNAL;

-- One row per saved version. session_id '' is the user scope (`user:` filenames); ADK's
-- ids are never empty, so no session can collide with it. `part` is the saved Part's
-- JSON without its payload (text or inline bytes), which lives in the blob.
CREATE TABLE IF NOT EXISTS {versions} (
    app_name        TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    filename        TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 0),
    kind            TEXT    NOT NULL CHECK (kind IN ('inline', 'text', 'file')),
    mime_type       TEXT,
    part            JSONB   NOT NULL,
    custom_metadata JSONB   NOT NULL DEFAULT '{{}}'::jsonb,
    blob_id         BIGINT  REFERENCES {blobs} (id),
    size            BIGINT  NOT NULL DEFAULT 0,
    -- epoch seconds: ADK's ArtifactVersion.create_time
    create_time     DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
    PRIMARY KEY (app_name, user_id, session_id, filename, version)
);
CREATE INDEX IF NOT EXISTS {versions_by_blob_index} ON {versions} (blob_id);

CREATE TABLE IF NOT EXISTS {schema_versions} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
