-- An instance is counted into its series and study, and its ingest journal
-- row cleared, by the database as part of the instance's INSERT: ingest then
-- sends one statement per instance where it sent four, which is most of the
-- index's share of an acknowledgement's latency. Instances are never deleted
-- or moved, so there is no matching decrement.
CREATE FUNCTION dicom_instance_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dicom_series
       SET num_instances = num_instances + 1, updated_at = NEW.created_at
     WHERE id = NEW.series_id;
    UPDATE dicom_study
       SET num_instances = num_instances + 1, updated_at = NEW.created_at
     WHERE id = (SELECT study_id FROM dicom_series WHERE id = NEW.series_id);
    DELETE FROM dicom_ingest_journal WHERE blob_key = NEW.blob_key;
    RETURN NULL;
END
$$;

CREATE TRIGGER dicom_instance_counted AFTER INSERT ON dicom_instance
    FOR EACH ROW EXECUTE FUNCTION dicom_instance_counted();
