-- Version 3: less work for the server on every append and create (issue 17).
--
-- 1. Events no longer carry a foreign key to their session. Its RI trigger ran on every
--    event insert (a lookup and a row lock on the session the same statement had just
--    updated); the append inserts an event only when its UPDATE of the session matched,
--    so the key adds no protection there. The cascade stays: a statement-level trigger
--    after DELETE on sessions removes the deleted sessions' events, whichever statement
--    deleted them (delete_session, purge, an owner column's ON DELETE CASCADE). It runs
--    with a fresh snapshot, so it also sees an event that a concurrent append committed
--    while the delete waited for the session's row lock (a CTE in the delete statement
--    would not: it shares the statement's snapshot).
-- 2. The primary key of sessions becomes (id, app_name, user_id): full-key lookups use it
--    as before, and it also serves the lookups by bare id (find_session_keys), so the
--    separate index on sessions(id) goes. Each append's UPDATE is not HOT (it changes
--    update_time, which the listing index orders by), so every index of sessions gets a
--    new entry per append: one index less is one insert less.
-- Rebuilding the primary key locks sessions for the time it takes; on a large table run
-- `fastapi-adk-store migrate` in a quiet moment.
DO $migration$
DECLARE
    name text;
BEGIN
    FOR name IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = '{events}'::regclass AND confrelid = '{sessions}'::regclass
          AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE {events} DROP CONSTRAINT %I', name);
    END LOOP;
    SELECT conname INTO name FROM pg_constraint
    WHERE conrelid = '{sessions}'::regclass AND contype = 'p';
    EXECUTE format('ALTER TABLE {sessions} DROP CONSTRAINT %I', name);
END
$migration$;
ALTER TABLE {sessions} ADD PRIMARY KEY (id, app_name, user_id);
DROP INDEX IF EXISTS {sessions_by_id_index_qualified};

CREATE OR REPLACE FUNCTION {delete_events_function}() RETURNS trigger
LANGUAGE plpgsql AS $function$
BEGIN
    DELETE FROM {events} e USING deleted_sessions d
    WHERE e.app_name = d.app_name AND e.user_id = d.user_id AND e.session_id = d.id;
    RETURN NULL;
END
$function$;
CREATE TRIGGER {delete_events_trigger}
    AFTER DELETE ON {sessions}
    REFERENCING OLD TABLE AS deleted_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION {delete_events_function}();
