-- Append-only, hash-chained audit trail. Each event stores the hash of the
-- one before it; audit_chain_head holds the newest, so truncating the tail is
-- as visible as editing the middle. Appenders update the head row first,
-- which serialises them on both engines.
CREATE TABLE audit_event (
    seq           BIGINT PRIMARY KEY,
    recorded_at   BIGINT NOT NULL,
    action        TEXT   NOT NULL CHECK (action IN ('create', 'read', 'update', 'delete', 'execute')),
    subtype       TEXT   NOT NULL,
    outcome       TEXT   NOT NULL CHECK (outcome IN ('success', 'failure')),
    actor_user_id BIGINT,
    actor_name    TEXT   NOT NULL,
    client_addr   TEXT,
    request_id    TEXT,
    entity_type   TEXT,
    entity_id     TEXT,
    patient_id    BIGINT,
    facility_id   BIGINT,
    detail        TEXT   NOT NULL DEFAULT '{}',
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL UNIQUE
);
CREATE INDEX audit_event_patient ON audit_event (patient_id);
CREATE INDEX audit_event_actor ON audit_event (actor_user_id);
CREATE INDEX audit_event_recorded ON audit_event (recorded_at);

CREATE TABLE audit_chain_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
