-- Two patients found to be one person are merged: everything of the one
-- (its records, examinations, referrals, consultations, studies, reading
-- requests, consents) moves to the other, which is kept. The merged patient
-- stays, inactive, pointing at the kept one, so old references resolve.
-- Every row a merge moved is listed in patient_merge_move, so an
-- administrator can undo a wrong merge exactly: those rows, and no others,
-- go back.
ALTER TABLE patient ADD COLUMN merged_into INTEGER REFERENCES patient (id);
-- The name as toneless pinyin, lower-case, no spaces: what makes 王秀英 and
-- "Wang Xiuying" the same name when candidates for one person are sought.
ALTER TABLE patient ADD COLUMN name_key TEXT;
CREATE INDEX patient_by_birth_date ON patient (birth_date, name_key);

CREATE TABLE patient_merge (
    id                 INTEGER PRIMARY KEY,
    kept_patient_id    INTEGER NOT NULL REFERENCES patient (id),
    merged_patient_id  INTEGER NOT NULL REFERENCES patient (id),
    merged_by          INTEGER NOT NULL REFERENCES app_user (id),
    facility_id        INTEGER NOT NULL REFERENCES facility (id),
    merged_at          INTEGER NOT NULL,
    -- How the clinician knew them for one person.
    evidence           TEXT    NOT NULL CHECK (evidence IN ('resident_id_card', 'facility_card', 'patient_statement', 'records_agree')),
    note               TEXT    NOT NULL DEFAULT '',
    undone_by          INTEGER REFERENCES app_user (id),
    undone_at          INTEGER,
    undo_reason        TEXT,
    CHECK (kept_patient_id <> merged_patient_id),
    CHECK ((undone_by IS NULL) = (undone_at IS NULL)),
    CHECK ((undone_at IS NULL) = (undo_reason IS NULL)),
    CHECK (undo_reason IS NULL OR length(trim(undo_reason)) > 0)
);
-- A patient is merged into one other at a time.
CREATE UNIQUE INDEX patient_merge_one_standing ON patient_merge (merged_patient_id) WHERE undone_at IS NULL;
CREATE INDEX patient_merge_kept ON patient_merge (kept_patient_id);

CREATE TABLE patient_merge_move (
    merge_id  INTEGER NOT NULL REFERENCES patient_merge (id),
    -- The table the row is in.
    entity    TEXT    NOT NULL,
    row_id    INTEGER NOT NULL,
    PRIMARY KEY (merge_id, entity, row_id)
);
