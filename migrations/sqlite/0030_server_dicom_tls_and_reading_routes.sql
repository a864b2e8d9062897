-- A destination may take associations only over DICOM TLS (PS3.15 Annex
-- B): Ferry then opens its C-MOVE sub-operations and forwarding to it
-- over TLS, checking its certificate against dimse_tls_trusted_ca.
ALTER TABLE dicom_destination ADD COLUMN tls INTEGER NOT NULL DEFAULT 0 CHECK (tls IN (0, 1));

-- A forwarding rule may name a reading route: it then forwards a study
-- once a reading request is routed by that route (the reading facility's
-- PACS gets the images its radiologists are asked to read), as well as
-- what arrives for the study afterwards.
ALTER TABLE dicom_forward_rule ADD COLUMN reading_route_id INTEGER REFERENCES reading_route (id) ON DELETE CASCADE;

-- Why an outbox row's last attempt failed, as a kind the web client words
-- in the reader's language; last_error keeps the technical detail.
ALTER TABLE dicom_outbox ADD COLUMN last_error_kind TEXT
    CHECK (last_error_kind IN ('unreachable', 'refused', 'not_accepted', 'not_convertible', 'association', 'unreadable'));
