-- An instance whose `dicom.store` audit event its sender still owes: the
-- DIMSE association that sent it (`node/association`), written in the
-- instance's own transaction and cleared in the transaction that audits it.
-- The audit of a whole association is written when it ends; a node killed
-- before then finds what it owes here when it starts again, so no
-- acknowledged instance is ever left without its audit event.
ALTER TABLE dicom_instance ADD COLUMN audit_owed_by TEXT;
CREATE INDEX dicom_instance_audit_owed ON dicom_instance (audit_owed_by) WHERE audit_owed_by IS NOT NULL;
