-- Modalities allowed to push images to Ferry's DIMSE listener, each belonging
-- to the facility whose studies it sends. The calling AE title is how an
-- association is recognised, so it is unique across the consortium.
CREATE TABLE modality (
    id          INTEGER PRIMARY KEY,
    facility_id INTEGER NOT NULL REFERENCES facility (id),
    ae_title    TEXT   NOT NULL UNIQUE CHECK (length(ae_title) BETWEEN 1 AND 16 AND ae_title = trim(ae_title)),
    description TEXT   NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX modality_facility ON modality (facility_id);
