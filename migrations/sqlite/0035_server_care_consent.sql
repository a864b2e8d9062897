-- A patient's informed consent to one service the consortium gives them at a
-- distance (远程医疗知情同意): a teleconsultation, the recording of its call, a
-- remote reading, a referral. Each names the record of the service it covers
-- (the consultation, reading request or referral), and through it the
-- patient, so a merge of two patients moves it with that record. A
-- withdrawn consent stays as a record of what was allowed when; it stops
-- counting at `withdrawn_at`.
CREATE TABLE care_consent (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT    NOT NULL CHECK (kind IN ('teleconsultation', 'recording',
                                'remote_reading', 'referral')),
    consultation_id     INTEGER REFERENCES consultation (id),
    reading_request_id  INTEGER REFERENCES reading_request (id),
    referral_id         INTEGER REFERENCES referral (id),
    given_by            TEXT    NOT NULL CHECK (given_by IN ('patient', 'guardian')),
    guardian_name       TEXT    CHECK (guardian_name IS NULL OR length(trim(guardian_name)) > 0),
    -- The signed form's reference (a scan's file number) or the statement typed in.
    form_reference      TEXT    NOT NULL CHECK (length(trim(form_reference)) > 0),
    recorded_by         INTEGER NOT NULL REFERENCES app_user (id),
    recorded_at_facility_id INTEGER NOT NULL REFERENCES facility (id),
    recorded_at         INTEGER NOT NULL,
    withdrawn_by        INTEGER REFERENCES app_user (id),
    withdrawn_at        INTEGER,
    withdrawal_reason   TEXT,
    -- Each kind names the one record of its service, and only that one.
    CHECK ((kind IN ('teleconsultation', 'recording')) = (consultation_id IS NOT NULL)),
    CHECK ((kind = 'remote_reading') = (reading_request_id IS NOT NULL)),
    CHECK ((kind = 'referral') = (referral_id IS NOT NULL)),
    CHECK (given_by = 'patient' OR guardian_name IS NOT NULL),
    CHECK ((withdrawn_by IS NULL) = (withdrawn_at IS NULL)),
    CHECK ((withdrawn_at IS NULL) = (withdrawal_reason IS NULL)),
    CHECK (withdrawal_reason IS NULL OR length(trim(withdrawal_reason)) > 0)
);
-- One consent of each kind in force per service record.
CREATE UNIQUE INDEX care_consent_in_force_consultation ON care_consent (consultation_id, kind)
    WHERE withdrawn_at IS NULL AND consultation_id IS NOT NULL;
CREATE UNIQUE INDEX care_consent_in_force_reading ON care_consent (reading_request_id)
    WHERE withdrawn_at IS NULL AND reading_request_id IS NOT NULL;
CREATE UNIQUE INDEX care_consent_in_force_referral ON care_consent (referral_id)
    WHERE withdrawn_at IS NULL AND referral_id IS NOT NULL;
CREATE INDEX care_consent_by_consultation ON care_consent (consultation_id, recorded_at);
CREATE INDEX care_consent_by_reading ON care_consent (reading_request_id, recorded_at);
CREATE INDEX care_consent_by_referral ON care_consent (referral_id, recorded_at);
