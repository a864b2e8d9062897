-- Storage SCPs a facility's modalities and viewers may have Ferry send
-- images to with C-MOVE (a radiologist's workstation, the county PACS).
-- A C-MOVE names its destination by AE title only, so a title is unique
-- within its facility; each facility's callers may move only to its own.
CREATE TABLE dicom_destination (
    id          INTEGER PRIMARY KEY,
    facility_id INTEGER NOT NULL REFERENCES facility (id),
    ae_title    TEXT    NOT NULL CHECK (length(ae_title) BETWEEN 1 AND 16 AND ae_title = trim(ae_title)),
    host        TEXT    NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (facility_id, ae_title)
);
