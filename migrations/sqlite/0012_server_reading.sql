-- Remote reading: routing rules, reading requests (the worklist), reports and
-- critical results.

-- Where reading requests go. The most specific matching rule wins: a rule
-- names any of sending facility, modality and body part, and NULL matches
-- anything; ties go to the lower `precedence`, then the older rule.
CREATE TABLE reading_route (
    id                  INTEGER PRIMARY KEY,
    reading_facility_id INTEGER NOT NULL REFERENCES facility (id),
    sending_facility_id INTEGER REFERENCES facility (id),
    modality            TEXT    CHECK (modality IS NULL OR (length(modality) BETWEEN 1 AND 16 AND modality = upper(modality))),
    body_part           TEXT    CHECK (body_part IS NULL OR (length(body_part) BETWEEN 1 AND 64 AND body_part = upper(body_part))),
    precedence          INTEGER NOT NULL DEFAULT 100 CHECK (precedence BETWEEN 0 AND 1000),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- Radiologists who may reassign requests on their facility's worklist.
CREATE TABLE reading_lead (
    user_id    INTEGER PRIMARY KEY REFERENCES app_user (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

-- A study sent for a report, modelled on FHIR Task: `requested` (on the
-- worklist, unclaimed), `accepted` (claimed by a reader), `in-progress` (a
-- report is being written), `completed` (a final report is signed),
-- `cancelled`.
CREATE TABLE reading_request (
    id                     INTEGER PRIMARY KEY,
    study_instance_uid     TEXT    NOT NULL REFERENCES dicom_study (study_uid),
    patient_id             INTEGER REFERENCES patient (id),
    requesting_facility_id INTEGER NOT NULL REFERENCES facility (id),
    requested_by           INTEGER NOT NULL REFERENCES app_user (id),
    reading_facility_id    INTEGER NOT NULL REFERENCES facility (id),
    route_id               INTEGER REFERENCES reading_route (id) ON DELETE SET NULL,
    modality               TEXT    NOT NULL CHECK (length(modality) BETWEEN 1 AND 16),
    body_part              TEXT    NOT NULL DEFAULT '',
    clinical_question      TEXT    NOT NULL CHECK (length(trim(clinical_question)) > 0),
    priority               TEXT    NOT NULL CHECK (priority IN ('stat', 'urgent', 'routine')),
    requested_reader_id    INTEGER REFERENCES app_user (id),
    reader_id              INTEGER REFERENCES app_user (id),
    status                 TEXT    NOT NULL CHECK (status IN ('requested', 'accepted', 'in-progress', 'completed', 'cancelled')),
    status_reason          TEXT,
    due_at                 INTEGER NOT NULL,
    claimed_at             INTEGER,
    completed_at           INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    -- Claimed work has a reader; unclaimed work has none.
    CHECK (status NOT IN ('accepted', 'in-progress', 'completed') OR reader_id IS NOT NULL),
    CHECK (status <> 'requested' OR reader_id IS NULL)
);
CREATE INDEX reading_request_worklist ON reading_request (reading_facility_id, status, priority, created_at);
CREATE INDEX reading_request_by_reader ON reading_request (reader_id, status);
CREATE INDEX reading_request_by_study ON reading_request (study_instance_uid);
CREATE INDEX reading_request_by_facility ON reading_request (requesting_facility_id, status);
-- One open request per study and reading facility: asking twice is a 409.
CREATE UNIQUE INDEX reading_request_one_open ON reading_request (study_instance_uid, reading_facility_id)
    WHERE status NOT IN ('completed', 'cancelled');

-- A report on a reading request. Versions: a preliminary report may precede
-- the final one; after a final, each version is an amendment with a reason.
-- A signed version is immutable (triggers below); the latest signed version
-- supersedes the earlier ones.
CREATE TABLE reading_report (
    id                 INTEGER PRIMARY KEY,
    reading_request_id INTEGER NOT NULL REFERENCES reading_request (id),
    version            INTEGER NOT NULL CHECK (version >= 1),
    author_id          INTEGER NOT NULL REFERENCES app_user (id),
    template           TEXT    NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('preliminary', 'final')),
    findings           TEXT    NOT NULL,
    impression         TEXT    NOT NULL,
    critical           INTEGER NOT NULL DEFAULT 0 CHECK (critical IN (0, 1)),
    amendment_reason   TEXT,
    signed_at          INTEGER,
    content_sha256     TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (reading_request_id, version),
    CHECK ((signed_at IS NULL) = (content_sha256 IS NULL)),
    CHECK (length(trim(findings)) > 0 OR length(trim(impression)) > 0)
);
CREATE UNIQUE INDEX reading_report_one_draft ON reading_report (reading_request_id) WHERE signed_at IS NULL;
CREATE TRIGGER reading_report_signed_is_immutable BEFORE UPDATE ON reading_report
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'report_signed');
END;
CREATE TRIGGER reading_report_signed_is_kept BEFORE DELETE ON reading_report
WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'report_signed');
END;

-- The DICOM Basic Text SR of a signed version, filed into the study. Its UIDs
-- are fixed at signing, so filing again after a failure stores the same
-- object; `stored_at` is set once the store has it, and a failed attempt
-- is tried again, later after each failure (`last_attempt_at`).
CREATE TABLE reading_report_sr (
    report_id          INTEGER PRIMARY KEY REFERENCES reading_report (id),
    series_instance_uid TEXT   NOT NULL UNIQUE,
    sop_instance_uid   TEXT    NOT NULL UNIQUE,
    stored_at          INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_attempt_at    INTEGER,
    last_error         TEXT
);

-- A critical finding: the requester must acknowledge it; unacknowledged past
-- the configured time, the sending facility's other clinicians are alerted.
CREATE TABLE critical_result (
    id                 INTEGER PRIMARY KEY,
    report_id          INTEGER NOT NULL UNIQUE REFERENCES reading_report (id),
    reading_request_id INTEGER NOT NULL REFERENCES reading_request (id),
    raised_by          INTEGER NOT NULL REFERENCES app_user (id),
    raised_at          INTEGER NOT NULL,
    acknowledged_by    INTEGER REFERENCES app_user (id),
    acknowledged_at    INTEGER,
    escalated_at       INTEGER,
    CHECK ((acknowledged_by IS NULL) = (acknowledged_at IS NULL))
);
CREATE INDEX critical_result_open ON critical_result (acknowledged_at, escalated_at, raised_at);
