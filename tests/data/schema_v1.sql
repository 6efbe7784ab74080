-- A version-1 database as the last release before migrations (b4b6838) wrote it: pg_dump
-- --inserts of schema v1_dump after tests/data/make_schema_v1.py (sessions with
-- app:/user: state; events with text, a function call with 1e20, bytes, U+0000). tests/
-- test_migrations.py restores it under another schema name and upgrades it in place.
--
-- PostgreSQL database dump
--

\restrict I3HM37ga3MTtquFkt41WbM1KZOH9Z1rP4DTANhOJpfvJSItz80a7OU9qXC2y38a

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: v1_dump; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA v1_dump;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: adk_app_states; Type: TABLE; Schema: v1_dump; Owner: -
--

CREATE TABLE v1_dump.adk_app_states (
    app_name text NOT NULL,
    state jsonb DEFAULT '{}'::jsonb NOT NULL,
    update_time timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: adk_events; Type: TABLE; Schema: v1_dump; Owner: -
--

CREATE TABLE v1_dump.adk_events (
    app_name text NOT NULL,
    user_id text NOT NULL,
    session_id text NOT NULL,
    id text NOT NULL,
    invocation_id text DEFAULT ''::text NOT NULL,
    author text DEFAULT ''::text NOT NULL,
    "timestamp" double precision NOT NULL,
    event_data jsonb NOT NULL
);


--
-- Name: adk_sessions; Type: TABLE; Schema: v1_dump; Owner: -
--

CREATE TABLE v1_dump.adk_sessions (
    app_name text NOT NULL,
    user_id text NOT NULL,
    id text NOT NULL,
    state jsonb DEFAULT '{}'::jsonb NOT NULL,
    create_time timestamp with time zone DEFAULT now() NOT NULL,
    update_time double precision DEFAULT EXTRACT(epoch FROM now()) NOT NULL,
    revision bigint DEFAULT 0 NOT NULL
)
WITH (fillfactor='80');


--
-- Name: adk_store_schema; Type: TABLE; Schema: v1_dump; Owner: -
--

CREATE TABLE v1_dump.adk_store_schema (
    version integer NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: adk_user_states; Type: TABLE; Schema: v1_dump; Owner: -
--

CREATE TABLE v1_dump.adk_user_states (
    app_name text NOT NULL,
    user_id text NOT NULL,
    state jsonb DEFAULT '{}'::jsonb NOT NULL,
    update_time timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Data for Name: adk_app_states; Type: TABLE DATA; Schema: v1_dump; Owner: -
--

INSERT INTO v1_dump.adk_app_states VALUES ('notes', '{"theme": "dark", "total": 1}', '2026-12-02 01:28:44.498831+00');


--
-- Data for Name: adk_events; Type: TABLE DATA; Schema: v1_dump; Owner: -
--

INSERT INTO v1_dump.adk_events VALUES ('notes', 'alice', 's1', '0bdd3d21-9ea8-4de7-8058-6aa35b4ed270', 'i1', 'user', 1700000000, '{"id": "0bdd3d21-9ea8-4de7-8058-6aa35b4ed270", "author": "user", "actions": {"state_delta": {}, "artifact_delta": {}, "requested_auth_configs": {}, "requested_tool_confirmations": {}}, "content": {"role": "user", "parts": [{"text": "note buy milk é中😀"}]}, "node_info": {"path": ""}, "timestamp": 1700000000.0, "invocation_id": "i1"}');
INSERT INTO v1_dump.adk_events VALUES ('notes', 'alice', 's1', 'f3e0be36-f4b3-4899-b9fb-4d8ae041ec0e', 'i1', 'notes', 1700000001.5, '{"id": "f3e0be36-f4b3-4899-b9fb-4d8ae041ec0e", "author": "notes", "actions": {"state_delta": {"count": 1, "app:total": 1, "user:notes": 1}, "artifact_delta": {}, "requested_auth_configs": {}, "requested_tool_confirmations": {}}, "content": {"role": "model", "parts": [{"function_call": {"args": {"n": 100000000000000000000.0, "text": "buy milk"}, "name": "save"}}]}, "node_info": {"path": ""}, "timestamp": 1700000001.5, "invocation_id": "i1"}');
INSERT INTO v1_dump.adk_events VALUES ('notes', 'alice', 's1', '5c302b4d-b5fa-4cc6-95c9-ddf4aa261a9f', 'i1', 'notes', 1700000002.25, '{"id": "5c302b4d-b5fa-4cc6-95c9-ddf4aa261a9f", "author": "notes", "actions": {"state_delta": {}, "artifact_delta": {}, "requested_auth_configs": {}, "requested_tool_confirmations": {}}, "content": {"role": "user", "parts": [{"function_response": {"name": "save", "response": {"ok": true}}}, {"inline_data": {"data": "AAH_Ynl0ZXM=", "mime_type": "application/octet-stream"}}]}, "node_info": {"path": ""}, "timestamp": 1700000002.25, "invocation_id": "i1", "custom_metadata": {"nul": "a\u0001b"}}');


--
-- Data for Name: adk_sessions; Type: TABLE DATA; Schema: v1_dump; Owner: -
--

INSERT INTO v1_dump.adk_sessions VALUES ('notes', 'alice', 's1', '{"count": 1, "topic": "milk"}', '2026-12-02 01:28:44.453204+00', 1700000002.25, 3);
INSERT INTO v1_dump.adk_sessions VALUES ('notes', 'bob', 's2', '{"x": [1, 2.5, null]}', '2026-12-02 01:28:44.507812+00', 1796174924.507672, 0);


--
-- Data for Name: adk_store_schema; Type: TABLE DATA; Schema: v1_dump; Owner: -
--

INSERT INTO v1_dump.adk_store_schema VALUES (1, '2026-12-02 01:28:44.39763+00');


--
-- Data for Name: adk_user_states; Type: TABLE DATA; Schema: v1_dump; Owner: -
--

INSERT INTO v1_dump.adk_user_states VALUES ('notes', 'alice', '{"lang": "en", "notes": 1}', '2026-12-02 01:28:44.498831+00');


--
-- Name: adk_app_states adk_app_states_pkey; Type: CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_app_states
    ADD CONSTRAINT adk_app_states_pkey PRIMARY KEY (app_name);


--
-- Name: adk_events adk_events_pkey; Type: CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_events
    ADD CONSTRAINT adk_events_pkey PRIMARY KEY (app_name, user_id, session_id, id);


--
-- Name: adk_sessions adk_sessions_pkey; Type: CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_sessions
    ADD CONSTRAINT adk_sessions_pkey PRIMARY KEY (app_name, user_id, id);


--
-- Name: adk_store_schema adk_store_schema_pkey; Type: CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_store_schema
    ADD CONSTRAINT adk_store_schema_pkey PRIMARY KEY (version);


--
-- Name: adk_user_states adk_user_states_pkey; Type: CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_user_states
    ADD CONSTRAINT adk_user_states_pkey PRIMARY KEY (app_name, user_id);


--
-- Name: adk_events_by_time; Type: INDEX; Schema: v1_dump; Owner: -
--

CREATE INDEX adk_events_by_time ON v1_dump.adk_events USING btree (app_name, user_id, session_id, "timestamp", id);


--
-- Name: adk_sessions_by_id; Type: INDEX; Schema: v1_dump; Owner: -
--

CREATE INDEX adk_sessions_by_id ON v1_dump.adk_sessions USING btree (id);


--
-- Name: adk_sessions_by_update; Type: INDEX; Schema: v1_dump; Owner: -
--

CREATE INDEX adk_sessions_by_update ON v1_dump.adk_sessions USING btree (app_name, user_id, update_time, id);


--
-- Name: adk_events adk_events_app_name_user_id_session_id_fkey; Type: FK CONSTRAINT; Schema: v1_dump; Owner: -
--

ALTER TABLE ONLY v1_dump.adk_events
    ADD CONSTRAINT adk_events_app_name_user_id_session_id_fkey FOREIGN KEY (app_name, user_id, session_id) REFERENCES v1_dump.adk_sessions(app_name, user_id, id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict I3HM37ga3MTtquFkt41WbM1KZOH9Z1rP4DTANhOJpfvJSItz80a7OU9qXC2y38a

