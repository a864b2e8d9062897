-- The imaging store's index: studies, series and instances as the DICOM files
-- name them, the blob each instance is kept in, and the journal that lets a
-- restart clean up after a crash in the middle of an ingest.
--
-- Text columns hold values as DICOM encodes them (dates `YYYYMMDD`, times
-- `HHMMSS.FFFFFF`, names `Family^Given`). `*_search` columns hold the lower-cased
-- name so matching is case-insensitive with the same SQL on both engines.

CREATE TABLE dicom_study (
    id                  INTEGER PRIMARY KEY,
    study_uid           TEXT    NOT NULL UNIQUE CHECK (length(study_uid) BETWEEN 1 AND 64),
    -- The facility that sent the study; it decides who may read it.
    facility_id         INTEGER NOT NULL REFERENCES facility (id),
    -- The consortium patient, once someone has linked the study to one.
    patient_id          INTEGER REFERENCES patient (id),
    dicom_patient_id    TEXT    NOT NULL CHECK (length(dicom_patient_id) > 0),
    patient_name        TEXT,
    patient_name_search TEXT,
    patient_birth_date  TEXT    CHECK (patient_birth_date IS NULL OR length(patient_birth_date) = 8),
    patient_sex         TEXT,
    study_date          TEXT    CHECK (study_date IS NULL OR length(study_date) = 8),
    study_time          TEXT,
    accession_number    TEXT,
    study_description   TEXT,
    referring_physician TEXT,
    referring_physician_search TEXT,
    study_id            TEXT,
    -- Modalities in Study (0008,0061) as DICOM encodes it: `CT\MR`.
    modalities          TEXT    NOT NULL DEFAULT '',
    num_series          INTEGER NOT NULL DEFAULT 0 CHECK (num_series >= 0),
    num_instances       INTEGER NOT NULL DEFAULT 0 CHECK (num_instances >= 0),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX dicom_study_facility ON dicom_study (facility_id, study_date);
CREATE INDEX dicom_study_patient ON dicom_study (patient_id);
CREATE INDEX dicom_study_dicom_patient_id ON dicom_study (dicom_patient_id);
CREATE INDEX dicom_study_patient_name ON dicom_study (patient_name_search);
CREATE INDEX dicom_study_date ON dicom_study (study_date, study_time);
CREATE INDEX dicom_study_accession ON dicom_study (accession_number);
CREATE INDEX dicom_study_referring ON dicom_study (referring_physician_search);
CREATE INDEX dicom_study_study_id ON dicom_study (study_id);
CREATE INDEX dicom_study_birth_date ON dicom_study (patient_birth_date);

CREATE TABLE dicom_series (
    id                 INTEGER PRIMARY KEY,
    series_uid         TEXT    NOT NULL UNIQUE CHECK (length(series_uid) BETWEEN 1 AND 64),
    study_id           INTEGER NOT NULL REFERENCES dicom_study (id),
    modality           TEXT,
    series_number      INTEGER,
    series_description TEXT,
    num_instances      INTEGER NOT NULL DEFAULT 0 CHECK (num_instances >= 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX dicom_series_study ON dicom_series (study_id, series_number);
CREATE INDEX dicom_series_modality ON dicom_series (modality);

CREATE TABLE dicom_instance (
    id               INTEGER PRIMARY KEY,
    sop_instance_uid TEXT    NOT NULL UNIQUE CHECK (length(sop_instance_uid) BETWEEN 1 AND 64),
    series_id        INTEGER NOT NULL REFERENCES dicom_series (id),
    sop_class_uid    TEXT    NOT NULL CHECK (length(sop_class_uid) BETWEEN 1 AND 64),
    transfer_syntax  TEXT    NOT NULL,
    instance_number  INTEGER,
    rows             INTEGER CHECK (rows IS NULL OR rows >= 0),
    columns          INTEGER CHECK (columns IS NULL OR columns >= 0),
    frames           INTEGER CHECK (frames IS NULL OR frames >= 0),
    size             INTEGER NOT NULL CHECK (size > 0),
    sha256           TEXT    NOT NULL CHECK (length(sha256) = 64),
    blob_key         TEXT    NOT NULL UNIQUE,
    created_at       INTEGER NOT NULL
);
CREATE INDEX dicom_instance_series ON dicom_instance (series_id, instance_number);
CREATE INDEX dicom_instance_sop_class ON dicom_instance (sop_class_uid);

-- The metadata cache: each instance's data set without bulk data as DICOM
-- JSON, written with the instance, so a series' WADO-RS metadata is one indexed
-- read that concatenates rows rather than a parse of every file.
CREATE TABLE dicom_instance_metadata (
    instance_id INTEGER PRIMARY KEY REFERENCES dicom_instance (id),
    series_id   INTEGER NOT NULL REFERENCES dicom_series (id),
    metadata    TEXT    NOT NULL
);
CREATE INDEX dicom_instance_metadata_series ON dicom_instance_metadata (series_id);

-- Blob keys handed to an ingest before its blob becomes visible. A row leaves
-- in the transaction that indexes the instance stored under its key; a row
-- left behind names a blob that no index row points to, and recovery deletes
-- that blob. `node` names the process that holds the key, so a node recovers
-- only its own keys when several share the database.
CREATE TABLE dicom_ingest_journal (
    blob_key   TEXT    PRIMARY KEY,
    node       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX dicom_ingest_journal_node ON dicom_ingest_journal (node);
