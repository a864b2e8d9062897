-- An administrator's password set by another administrator, waiting for a
-- third to confirm it: one administrator alone could otherwise take over any
-- other's account. The new password is kept only as its hash, and only until
-- it is confirmed or expires.
CREATE TABLE admin_password_reset (
    id             INTEGER PRIMARY KEY,
    target_user_id INTEGER NOT NULL REFERENCES app_user (id),
    requested_by   INTEGER NOT NULL REFERENCES app_user (id),
    password_hash  TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    confirmed_by   INTEGER REFERENCES app_user (id),
    confirmed_at   INTEGER,
    CHECK (requested_by <> target_user_id),
    CHECK (confirmed_by IS NULL OR (confirmed_by <> requested_by AND confirmed_by <> target_user_id)),
    CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL))
);
CREATE INDEX admin_password_reset_target ON admin_password_reset (target_user_id);
