-- Text written in a consultation's call (a dosage, a spelling, a link that
-- does not survive being read aloud). Kept with the consultation, so what
-- was typed in the call is part of its record afterwards; append-only.
CREATE TABLE consultation_chat_message (
    id              INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultation (id),
    author_id       INTEGER NOT NULL REFERENCES app_user (id),
    body            TEXT    NOT NULL CHECK (length(trim(body)) > 0 AND length(body) <= 2000),
    sent_at         INTEGER NOT NULL
);
CREATE INDEX consultation_chat_message_by_consultation
    ON consultation_chat_message (consultation_id, id);
