-- Patient search looks identifiers up by index before it checks the scope
-- (record numbers across facilities, and a national identifier held for
-- review), and starts name searches from the patients in scope, which for a
-- radiologist are the patients of the reading facility's requests.
CREATE INDEX patient_record_by_number ON patient_record (record_number);
CREATE INDEX patient_unverified_national_id ON patient (unverified_national_id);
CREATE INDEX reading_request_by_patient ON reading_request (patient_id, reading_facility_id);

-- The forms of a patient's name a search matches, lower-cased, kept with the
-- name: one plain column to match rather than three expressions per row.
ALTER TABLE patient ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
UPDATE patient SET search_name = lower(family_name || given_name) || ' | '
    || lower(family_name || ' ' || given_name) || ' | ' || lower(given_name || ' ' || family_name);
