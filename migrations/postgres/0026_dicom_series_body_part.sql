-- Body Part Examined (0018,0015) of a series, upper-case as DICOM defines its
-- terms: with the modality and the study date it tells whether the
-- consortium already holds images of what a clinician is about to order.
-- Series stored before this column was added have none.
ALTER TABLE dicom_series ADD COLUMN body_part TEXT;
CREATE INDEX dicom_series_body_part ON dicom_series (study_id, modality, body_part);
