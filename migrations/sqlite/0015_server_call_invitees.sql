-- People a consultation's clinician or expert invite to its call, such as a
-- radiologist or an interpreter. They join the call; the record stays closed
-- to them unless they have access of their own.
CREATE TABLE consultation_invitee (
    consultation_id INTEGER NOT NULL REFERENCES consultation (id),
    user_id         INTEGER NOT NULL REFERENCES app_user (id),
    invited_by      INTEGER NOT NULL REFERENCES app_user (id),
    note            TEXT    NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (consultation_id, user_id)
);
CREATE INDEX consultation_invitee_by_user ON consultation_invitee (user_id);
