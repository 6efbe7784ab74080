-- Version 1: the schema of the releases before numbered migrations. Every statement is
-- IF NOT EXISTS, so a database those releases made is version 1 as it stands.
-- Placeholders in braces are the configured (quoted) table and index names.
CREATE TABLE IF NOT EXISTS {sessions} (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- epoch seconds: ADK's Session.last_update_time, kept bit-exact
    update_time DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM now()),
    revision    BIGINT      NOT NULL DEFAULT 0,{owner_column_ddl}
    PRIMARY KEY (app_name, user_id, id)
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS {sessions_by_update_index}
    ON {sessions} (app_name, user_id, update_time, id);
CREATE INDEX IF NOT EXISTS {sessions_by_id_index} ON {sessions} (id);

CREATE TABLE IF NOT EXISTS {events} (
    app_name      TEXT        NOT NULL,
    user_id       TEXT        NOT NULL,
    session_id    TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    invocation_id TEXT        NOT NULL DEFAULT '',
    author        TEXT        NOT NULL DEFAULT '',
    -- epoch seconds: ADK's Event.timestamp, exact for ordering and after_timestamp
    timestamp     DOUBLE PRECISION NOT NULL,
    event_data    JSONB       NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id, id),
    FOREIGN KEY (app_name, user_id, session_id)
        REFERENCES {sessions} (app_name, user_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS {events_by_time_index}
    ON {events} (app_name, user_id, session_id, timestamp, id);

CREATE TABLE IF NOT EXISTS {app_states} (
    app_name    TEXT        PRIMARY KEY,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    update_time TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {user_states} (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_name, user_id)
);

CREATE TABLE IF NOT EXISTS {schema_versions} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
