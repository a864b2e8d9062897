-- The graded diagnosis catalogue: an ICD-10 code or an inclusive range of
-- normalised codes, mapped to the tiers that treat it. `tiers` is a JSON array
-- of tier names in tier order, e.g. ["primary","village"].
CREATE TABLE diagnosis_catalogue (
    id         INTEGER PRIMARY KEY,
    code_from  TEXT    NOT NULL CHECK (length(code_from) >= 3),
    code_to    TEXT    NOT NULL CHECK (length(code_to) >= 3),
    tiers      TEXT    NOT NULL CHECK (tiers LIKE '["%"]'),
    label      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    CHECK (code_to >= code_from)
);
CREATE INDEX diagnosis_catalogue_range ON diagnosis_catalogue (code_from, code_to);

-- A patient sent up to a higher tier or back down for rehabilitation. The
-- direction's agreement with the two facilities' tiers is checked in code,
-- because a CHECK cannot read another table.
CREATE TABLE referral (
    id                  INTEGER PRIMARY KEY,
    patient_id          INTEGER NOT NULL REFERENCES patient (id),
    direction           TEXT    NOT NULL CHECK (direction IN ('up', 'down')),
    from_facility_id    INTEGER NOT NULL REFERENCES facility (id),
    to_facility_id      INTEGER NOT NULL REFERENCES facility (id),
    requested_by        INTEGER NOT NULL REFERENCES app_user (id),
    reason              TEXT    NOT NULL CHECK (length(trim(reason)) > 0),
    diagnosis_codes     TEXT    NOT NULL CHECK (diagnosis_codes LIKE '["%"]'),
    justification       TEXT    CHECK (justification IS NULL OR length(trim(justification)) > 0),
    rehabilitation_plan TEXT,
    status              TEXT    NOT NULL DEFAULT 'requested'
                        CHECK (status IN ('requested', 'accepted', 'rejected', 'arrived', 'discharged', 'cancelled')),
    decided_by          INTEGER REFERENCES app_user (id),
    decided_at          INTEGER,
    decision_note       TEXT,
    arrived_at          INTEGER,
    discharged_at       INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CHECK (from_facility_id <> to_facility_id),
    -- A patient goes back down only with a plan for their rehabilitation.
    CHECK (direction = 'up' OR length(trim(coalesce(rehabilitation_plan, ''))) > 0),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK (status NOT IN ('accepted', 'rejected', 'arrived', 'discharged') OR decided_at IS NOT NULL),
    CHECK (status <> 'requested' OR decided_at IS NULL),
    CHECK (status <> 'rejected' OR length(trim(coalesce(decision_note, ''))) > 0),
    CHECK ((arrived_at IS NOT NULL) = (status IN ('arrived', 'discharged'))),
    CHECK ((discharged_at IS NOT NULL) = (status = 'discharged'))
);
CREATE INDEX referral_patient ON referral (patient_id, to_facility_id);
CREATE INDEX referral_to ON referral (to_facility_id, status);
CREATE INDEX referral_from ON referral (from_facility_id, status);

-- An examination asked for at a member facility; the imaging store links the
-- resulting study. Looked up across the whole consortium to warn about
-- repeating an examination another member has already done.
CREATE TABLE examination (
    id                 INTEGER PRIMARY KEY,
    patient_id         INTEGER NOT NULL REFERENCES patient (id),
    facility_id        INTEGER NOT NULL REFERENCES facility (id),
    requested_by       INTEGER NOT NULL REFERENCES app_user (id),
    modality           TEXT    NOT NULL CHECK (length(modality) BETWEEN 2 AND 16 AND modality = upper(modality)),
    body_part          TEXT    NOT NULL CHECK (length(body_part) BETWEEN 1 AND 16 AND body_part = upper(body_part)),
    status             TEXT    NOT NULL DEFAULT 'requested'
                       CHECK (status IN ('requested', 'performed', 'cancelled')),
    requested_at       INTEGER NOT NULL,
    performed_at       INTEGER,
    study_instance_uid TEXT,
    repeat_reason      TEXT    CHECK (repeat_reason IS NULL OR length(trim(repeat_reason)) > 0),
    CHECK ((performed_at IS NOT NULL) = (status = 'performed')),
    CHECK (study_instance_uid IS NULL OR status = 'performed')
);
CREATE INDEX examination_patient ON examination (patient_id, modality, body_part);
