-- Version 2: large events are TOASTed with lz4 where the server has it (PostgreSQL 14+
-- built with lz4): it compresses several times faster than pglz at a similar ratio.
-- Existing rows keep their compression; nothing is rewritten.
DO $migration$
BEGIN
    IF current_setting('server_version_num')::int >= 140000
       AND EXISTS (SELECT 1 FROM pg_settings
                   WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE {events} ALTER COLUMN event_data SET COMPRESSION lz4';
    END IF;
END
$migration$;
