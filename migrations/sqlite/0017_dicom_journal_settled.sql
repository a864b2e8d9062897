-- An instance's ingest journal row is no longer cleared by its INSERT. Its
-- blob's flush to disk now runs while the index row commits, so until both
-- are done the key stays journalled: recovery after a crash checks the blob
-- of every journalled key that an index row names, and removes the row of a
-- blob that did not reach the disk whole. Ingest clears settled keys in a
-- later group commit.
DROP TRIGGER dicom_instance_counted;
CREATE TRIGGER dicom_instance_counted AFTER INSERT ON dicom_instance
BEGIN
    UPDATE dicom_series
       SET num_instances = num_instances + 1, updated_at = NEW.created_at
     WHERE id = NEW.series_id;
    UPDATE dicom_study
       SET num_instances = num_instances + 1, updated_at = NEW.created_at
     WHERE id = (SELECT study_id FROM dicom_series WHERE id = NEW.series_id);
END;
