-- Forwarding: rules send the instances a facility stores (of a modality, or
-- all) on to a C-MOVE destination, e.g. the tertiary hospital's PACS.
--
-- Every instance is considered for forwarding exactly once: it is stored
-- with forward_considered NULL, and one transaction queues it for each
-- rule it matches and sets the column. A crash leaves it NULL, to be
-- considered again; instances stored before forwarding existed are not.
ALTER TABLE dicom_instance ADD COLUMN forward_considered INTEGER;
UPDATE dicom_instance SET forward_considered = 1;
CREATE INDEX dicom_instance_unconsidered ON dicom_instance (id) WHERE forward_considered IS NULL;

CREATE TABLE dicom_forward_rule (
    id             INTEGER PRIMARY KEY,
    -- The sending facility; NULL for every facility.
    facility_id    INTEGER REFERENCES facility (id),
    -- A DICOM modality (CT, DX, ...); NULL for every modality.
    modality       TEXT CHECK (modality IS NULL OR (length(modality) BETWEEN 1 AND 16 AND modality = upper(modality))),
    destination_id INTEGER NOT NULL REFERENCES dicom_destination (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL
);

-- The durable outbox: one row per instance and destination. A row is sent
-- once its destination acknowledged it; until then it is retried with a
-- growing delay. A node takes rows for a while (lease_until), so nodes
-- sharing the database do not send the same row at once.
CREATE TABLE dicom_outbox (
    id              INTEGER PRIMARY KEY,
    destination_id  INTEGER NOT NULL REFERENCES dicom_destination (id) ON DELETE CASCADE,
    instance_id     INTEGER NOT NULL REFERENCES dicom_instance (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    CHECK ((sent_at IS NOT NULL) = (state = 'sent')),
    UNIQUE (destination_id, instance_id)
);
CREATE INDEX dicom_outbox_due ON dicom_outbox (state, next_attempt_at);
