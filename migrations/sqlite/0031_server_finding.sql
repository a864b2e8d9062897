-- Finding people fast. A name's initials in pinyin (王秀英 and "Wang
-- Xiu-ying" both give `wxy`), keyed in Rust as name_key is and filled at
-- start-up for the patients stored before; record numbers looked up
-- whatever their case (`isl-7731` finds `ISL-7731`), through an index on
-- the folded number, so the stored number keeps the facility's spelling.
ALTER TABLE patient ADD COLUMN name_initials TEXT;
CREATE INDEX patient_record_by_folded_number ON patient_record (lower(record_number));

-- "Today / my patients": the open consultations and reading requests a
-- clinician asked for, found from the clinician.
CREATE INDEX consultation_by_requester ON consultation (requested_by, status);
CREATE INDEX reading_request_by_requester ON reading_request (requested_by, status);
