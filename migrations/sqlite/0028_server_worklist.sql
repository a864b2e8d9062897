-- An examination ordered in Ferry is a scheduled procedure step on the
-- ordering facility's modality worklist: an accession number (unique in the
-- consortium), the Study Instance UID the modality is asked to use, when
-- and on which station (NULL: any modality of the facility), and a
-- description. The modality's MPPS moves the step along; the arriving study
-- is matched to its examination by accession number or that UID.
ALTER TABLE examination ADD COLUMN accession_number TEXT CHECK (accession_number IS NULL OR length(accession_number) BETWEEN 1 AND 16);
ALTER TABLE examination ADD COLUMN planned_study_uid TEXT CHECK (planned_study_uid IS NULL OR length(planned_study_uid) BETWEEN 1 AND 64);
ALTER TABLE examination ADD COLUMN scheduled_at INTEGER;
ALTER TABLE examination ADD COLUMN station_ae TEXT CHECK (station_ae IS NULL OR length(station_ae) BETWEEN 1 AND 16);
ALTER TABLE examination ADD COLUMN procedure_description TEXT NOT NULL DEFAULT '';
ALTER TABLE examination ADD COLUMN step_status TEXT NOT NULL DEFAULT 'scheduled'
    CHECK (step_status IN ('scheduled', 'in_progress', 'completed', 'discontinued'));
ALTER TABLE examination ADD COLUMN mpps_uid TEXT CHECK (mpps_uid IS NULL OR length(mpps_uid) BETWEEN 1 AND 64);
UPDATE examination SET accession_number = 'F' || printf('%07d', id), scheduled_at = requested_at;
CREATE UNIQUE INDEX examination_accession ON examination (accession_number);
CREATE UNIQUE INDEX examination_planned_study ON examination (planned_study_uid);
CREATE UNIQUE INDEX examination_mpps ON examination (mpps_uid);
CREATE INDEX examination_worklist ON examination (facility_id, status, scheduled_at);
