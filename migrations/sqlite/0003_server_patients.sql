-- One consortium-wide patient index: a person is one row here however many
-- member facilities have registered them; each registration is a
-- patient_record with that facility's own record number.
CREATE TABLE patient (
    id          INTEGER PRIMARY KEY,
    national_id TEXT    UNIQUE CHECK (national_id IS NULL OR length(trim(national_id)) > 0),
    family_name TEXT    NOT NULL CHECK (length(trim(family_name)) > 0),
    given_name  TEXT    NOT NULL DEFAULT '',
    sex         TEXT    NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    birth_date  TEXT    NOT NULL CHECK (birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
    phone       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE patient_record (
    id            INTEGER PRIMARY KEY,
    patient_id    INTEGER NOT NULL REFERENCES patient (id),
    facility_id   INTEGER NOT NULL REFERENCES facility (id),
    record_number TEXT    NOT NULL CHECK (length(trim(record_number)) > 0),
    created_at    INTEGER NOT NULL,
    UNIQUE (facility_id, record_number),
    UNIQUE (patient_id, facility_id)
);
CREATE INDEX patient_record_patient ON patient_record (patient_id);

-- Emergency access outside a clinician's scope: time-limited, with a stated
-- reason, reviewed afterwards by an administrator.
CREATE TABLE break_glass_grant (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES app_user (id),
    patient_id  INTEGER NOT NULL REFERENCES patient (id),
    reason      TEXT    NOT NULL CHECK (length(trim(reason)) >= 10),
    granted_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    reviewed_by INTEGER REFERENCES app_user (id),
    reviewed_at INTEGER,
    review_note TEXT,
    CHECK (expires_at > granted_at),
    CHECK ((reviewed_by IS NULL) = (reviewed_at IS NULL))
);
CREATE INDEX break_glass_user_patient ON break_glass_grant (user_id, patient_id, expires_at);
