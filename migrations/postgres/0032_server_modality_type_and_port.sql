-- What an administrator registers besides the AE title: the kind of machine
-- (a DICOM modality code such as CT, MR, US or ECG; empty when not said) and
-- the port its own storage SCP listens on, for sending images back to it
-- (NULL when it only sends).
ALTER TABLE modality ADD COLUMN modality_type TEXT NOT NULL DEFAULT '';
ALTER TABLE modality ADD COLUMN port BIGINT CHECK (port IS NULL OR (port BETWEEN 1 AND 65535));
