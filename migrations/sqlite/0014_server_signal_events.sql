-- Signalling events too large for a PostgreSQL NOTIFY payload, kept a few
-- minutes for the other nodes to read. Unused on SQLite (one node), kept so
-- both engines have the same schema.
CREATE TABLE signal_event (
    id         INTEGER PRIMARY KEY,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX signal_event_created ON signal_event (created_at);
