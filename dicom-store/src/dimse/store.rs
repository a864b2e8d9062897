//! C-STORE (PS3.4 Annex B): the data set is gathered as a Part 10 file, in
//! memory up to 256 KiB and streamed to a staging file beyond, so memory use
//! per association is bounded (256 KiB plus one PDU) whatever the size of the
//! instance, then handed to the service.

use std::io::Write as _;
use std::path::PathBuf;

use dicom_object::meta::FileMetaTableBuilder;
use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::association::Association;
use super::echo::SOP_CLASS_NOT_SUPPORTED;
use super::message::{field, Command, Response};
use super::negotiate::{self, Context, Service};
use super::{DimseError, StagedFile, StoreOutcome, StoreRequest};

/// Buffer between P-DATA fragments and the file: a few fragments per write.
const WRITE_BUFFER: usize = 256 * 1024;

/// A staging file being written, and its path (removed when dropped).
type StagingWriter = (tokio::io::BufWriter<tokio::fs::File>, tempfile::TempPath);

impl Association {
    pub(crate) async fn store(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        let message_id = command.message_id()?;
        let sop_class = command.affected_sop_class().unwrap_or_default();
        let sop_instance = command.affected_sop_instance().unwrap_or_default();
        let mut response = Response::new(field::C_STORE_RSP, message_id, 0);
        response.sop_class = Some(sop_class.clone());
        response.sop_instance = Some(sop_instance.clone());

        if !command.has_data_set() {
            response.status = 0xC000;
            response.error_comment = Some("C-STORE without a data set".into());
            return self.respond(context_id, &response, None).await;
        }
        // The command must name the SOP class the context was negotiated
        // for (PS3.7 §9.1.1.1), and that must be a storage class.
        if context.service != Service::Storage || sop_class != context.abstract_syntax {
            self.skip_data_set(context_id).await?;
            response.status = SOP_CLASS_NOT_SUPPORTED;
            return self.respond(context_id, &response, None).await;
        }
        if negotiate::trim_uid(&sop_instance).is_empty() {
            self.skip_data_set(context_id).await?;
            response.status = 0xA900;
            response.error_comment = Some("no Affected SOP Instance UID".into());
            return self.respond(context_id, &response, None).await;
        }

        let outcome = match self
            .stage(context_id, context, &sop_class, &sop_instance)
            .await?
        {
            Ok(file) => {
                let request = StoreRequest {
                    sop_class_uid: sop_class,
                    sop_instance_uid: sop_instance,
                    transfer_syntax: context.transfer_syntax.clone(),
                    file,
                };
                let admission = self.admission.clone();
                self.service.store(&admission, request).await
            }
            Err(outcome) => outcome,
        };
        debug!(status = outcome.status(), "C-STORE done");
        response.status = outcome.status();
        response.error_comment = outcome.comment().map(str::to_string);
        self.respond(context_id, &response, None).await
    }

    /// Writes the data set to a staged file. The outer error ends the
    /// association (the peer broke the stream); the inner one is a failure
    /// of ours (disk full...) that becomes a status: the rest of the data
    /// set is still read, so the association stays usable.
    async fn stage(
        &mut self,
        context_id: u8,
        context: &Context,
        sop_class: &str,
        sop_instance: &str,
    ) -> Result<Result<StagedFile, StoreOutcome>, DimseError> {
        let header = match self.part10_header(context, sop_class, sop_instance) {
            Ok(header) => header,
            Err(comment) => {
                self.skip_data_set(context_id).await?;
                return Ok(Err(StoreOutcome::CannotUnderstand(comment)));
            }
        };
        // The first WRITE_BUFFER bytes are kept in memory: most instances end
        // there and never touch the staging directory.
        let mut buffer = header;
        let dataset_offset = buffer.len() as u64;
        let mut file: Option<StagingWriter> = None;
        let mut failed = false;
        let mut written = dataset_offset;
        loop {
            let (bytes, last) = self.data_fragment(context_id).await?;
            written += bytes.len() as u64;
            if !failed {
                if let Some((writer, _)) = file.as_mut() {
                    if let Err(error) = writer.write_all(&bytes).await {
                        warn!(%error, "cannot write to the staging file");
                        failed = true;
                        file = None;
                    }
                } else {
                    buffer.extend_from_slice(&bytes);
                    if buffer.len() > WRITE_BUFFER {
                        match self.create_staging_file(std::mem::take(&mut buffer)).await {
                            Ok((std_file, path)) => {
                                let writer = tokio::io::BufWriter::with_capacity(
                                    WRITE_BUFFER,
                                    tokio::fs::File::from_std(std_file),
                                );
                                file = Some((writer, path));
                            }
                            Err(error) => {
                                warn!(%error, "cannot create a staging file");
                                failed = true;
                            }
                        }
                    }
                }
            }
            if last {
                break;
            }
        }
        match (failed, file) {
            (true, _) => {}
            (false, Some((mut writer, path))) => match writer.flush().await {
                Ok(()) => return Ok(Ok(StagedFile::on_disk(path, dataset_offset, written))),
                Err(error) => warn!(%error, "cannot flush the staging file"),
            },
            // Small enough to stay in memory: the store parses and writes it
            // from there, with no staging file to create, read back and rename.
            (false, None) => return Ok(Ok(StagedFile::in_memory(buffer, dataset_offset))),
        }
        Ok(Err(StoreOutcome::OutOfResources(
            "cannot stage the instance".into(),
        )))
    }

    /// Preamble, magic code and file meta group for the staged file.
    fn part10_header(
        &self,
        context: &Context,
        sop_class: &str,
        sop_instance: &str,
    ) -> Result<Vec<u8>, String> {
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop_instance)
            .transfer_syntax(context.transfer_syntax.as_str())
            .implementation_class_uid(negotiate::IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(negotiate::IMPLEMENTATION_VERSION_NAME)
            .source_application_entity_title(self.admission.calling_ae())
            .build()
            .map_err(|e| format!("cannot build file meta: {e}"))?;
        let mut header = vec![0u8; 128];
        header.extend_from_slice(b"DICM");
        meta.write(&mut header)
            .map_err(|e| format!("cannot write file meta: {e}"))?;
        Ok(header)
    }

    /// Creates a staging file holding `bytes`, in one blocking call.
    async fn create_staging_file(
        &self,
        bytes: Vec<u8>,
    ) -> std::io::Result<(std::fs::File, tempfile::TempPath)> {
        let dir: PathBuf = self
            .config
            .staging_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        tokio::task::spawn_blocking(move || {
            let mut named = tempfile::Builder::new()
                .prefix("dimse-")
                .suffix(".dcm")
                .tempfile_in(dir)?;
            named.as_file_mut().write_all(&bytes)?;
            Ok(named.into_parts())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
