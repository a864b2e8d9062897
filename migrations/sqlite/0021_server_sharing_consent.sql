-- A patient's consent to sharing their records within the consortium: with
-- it, the member facilities that care for the patient read each other's
-- results (studies, reports, opinions, referrals, examinations). `scope`
-- 'consortium' lets every caring facility read; 'facilities' only those
-- named in sharing_consent_facility. A withdrawn consent stays as a record
-- of what was allowed when; it stops counting at `withdrawn_at`.
CREATE TABLE sharing_consent (
    id                  INTEGER PRIMARY KEY,
    patient_id          INTEGER NOT NULL REFERENCES patient (id),
    scope               TEXT    NOT NULL CHECK (scope IN ('consortium', 'facilities')),
    given_by            TEXT    NOT NULL CHECK (given_by IN ('patient', 'guardian')),
    -- Who gave it for the patient, when not the patient.
    guardian_name       TEXT    CHECK (guardian_name IS NULL OR length(trim(guardian_name)) > 0),
    -- The signed form's reference (a scan's file number) or the statement typed in.
    form_reference      TEXT    NOT NULL CHECK (length(trim(form_reference)) > 0),
    recorded_by         INTEGER NOT NULL REFERENCES app_user (id),
    recorded_at_facility_id INTEGER NOT NULL REFERENCES facility (id),
    recorded_at         INTEGER NOT NULL,
    withdrawn_by        INTEGER REFERENCES app_user (id),
    withdrawn_at        INTEGER,
    withdrawal_reason   TEXT,
    CHECK (given_by = 'patient' OR guardian_name IS NOT NULL),
    CHECK ((withdrawn_by IS NULL) = (withdrawn_at IS NULL)),
    CHECK ((withdrawn_at IS NULL) = (withdrawal_reason IS NULL)),
    CHECK (withdrawal_reason IS NULL OR length(trim(withdrawal_reason)) > 0)
);
-- One consent in force per patient: a new scope is a withdrawal and a new record.
CREATE UNIQUE INDEX sharing_consent_one_in_force ON sharing_consent (patient_id) WHERE withdrawn_at IS NULL;
CREATE INDEX sharing_consent_by_patient ON sharing_consent (patient_id, recorded_at);

CREATE TABLE sharing_consent_facility (
    consent_id  INTEGER NOT NULL REFERENCES sharing_consent (id),
    facility_id INTEGER NOT NULL REFERENCES facility (id),
    PRIMARY KEY (consent_id, facility_id)
);

-- Study scope is decided in SQL, per study: this answers "is this study
-- attached to a live consultation of ..." without a scan.
CREATE INDEX consultation_study_by_study ON consultation_study (study_instance_uid);
