-- Per-user notifications. Written in the same transaction as the change they
-- announce, so a stream that reconnects (Last-Event-ID) misses nothing.
CREATE TABLE notification (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (length(kind) > 0),
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX notification_by_user ON notification (user_id, id);
