CREATE TABLE app_user (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE
                  CHECK (username = lower(username) AND length(username) BETWEEN 3 AND 64),
    display_name  TEXT    NOT NULL CHECK (length(trim(display_name)) > 0),
    facility_id   INTEGER NOT NULL REFERENCES facility (id),
    password_hash TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX app_user_facility ON app_user (facility_id);

CREATE TABLE user_role (
    user_id INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    role    TEXT    NOT NULL CHECK (role IN ('admin', 'scheduler', 'clinician', 'expert', 'radiologist')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE user_specialty (
    user_id   INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    specialty TEXT    NOT NULL CHECK (length(trim(specialty)) > 0),
    PRIMARY KEY (user_id, specialty)
);

-- Bearer tokens are stored only as their SHA-256; the token itself never
-- touches the disk.
CREATE TABLE user_session (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    client_addr TEXT,
    CHECK (expires_at > created_at)
);
CREATE INDEX user_session_by_user ON user_session (user_id);

-- Keyed by the name typed at sign-in, not by account, so an unknown name is
-- throttled exactly like a real one and the two cannot be told apart.
CREATE TABLE login_throttle (
    username         TEXT    PRIMARY KEY,
    failures         INTEGER NOT NULL CHECK (failures >= 0),
    first_failure_at INTEGER NOT NULL,
    locked_until     INTEGER
);
