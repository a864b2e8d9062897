-- Append-only, hash-chained audit trail. Each event stores the hash of the
-- one before it; audit_chain_head holds the newest, so truncating the tail is
-- as visible as editing the middle. Appenders update the head row first,
-- which serialises them on both engines.
CREATE TABLE audit_event (
    seq           INTEGER PRIMARY KEY,
    recorded_at   INTEGER NOT NULL,
    action        TEXT    NOT NULL CHECK (action IN ('create', 'read', 'update', 'delete', 'execute')),
    subtype       TEXT    NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('success', 'failure')),
    actor_user_id INTEGER,
    actor_name    TEXT    NOT NULL,
    client_addr   TEXT,
    request_id    TEXT,
    entity_type   TEXT,
    entity_id     TEXT,
    patient_id    INTEGER,
    facility_id   INTEGER,
    detail        TEXT    NOT NULL DEFAULT '{}',
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL UNIQUE
);
CREATE INDEX audit_event_patient ON audit_event (patient_id);
CREATE INDEX audit_event_actor ON audit_event (actor_user_id);
CREATE INDEX audit_event_recorded ON audit_event (recorded_at);

CREATE TABLE audit_chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
