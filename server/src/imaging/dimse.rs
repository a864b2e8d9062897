//! `DimseService` for the DIMSE listener: modalities are admitted by their
//! registered calling AE title, C-STORE goes through the same ingest as
//! STOW-RS, and C-FIND answers from the index with the QIDO-RS query
//! machinery, limited to the calling modality's facility. C-GET and C-MOVE
//! send what that same scope holds, a C-MOVE only to a destination
//! registered for the caller's facility.
//!
//! Admission looks the AE title up in the database at every association
//! rather than in a cache: the lookup is one indexed row, associations are
//! few, and a modality deleted through the API (on any node sharing the
//! database) is refused at its very next association. A modality bound to
//! hosts is admitted from those only (from elsewhere its title is refused as
//! unknown), and one AE title holds at most its limit of associations at
//! once on a node (more are refused as transiently busy).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use dicom_object::InMemDicomObject;
use ferry_dicom_store::dimse::{
    Admission, BoxFuture, DimseService, FindFailure, FindRequest, MoveDestination, Outgoing,
    ProcedureStep, Refusal, RetrieveRequest, StepFailure, StoreOutcome, StoreRequest,
};
use ferry_dicom_store::find::FindError;
use ferry_dicom_store::ingest::tally::Via;
use ferry_dicom_store::{IngestContext, IngestError, Outcome, Stored};

use super::tally::{Tally, STUDIES_PER_AUDIT};
use super::{Imaging, StoredStudy};
use crate::audit::Actor;

/// The DIMSE side of [`Imaging`].
#[derive(Debug, Clone)]
pub struct ModalityService {
    imaging: Imaging,
    /// Instances stored per study by each live association, keyed by the
    /// peer's socket address (unique while the connection lasts), audited
    /// when the association ends.
    transfers: Arc<Mutex<HashMap<SocketAddr, Tally>>>,
    /// Live associations per calling AE title on this node. Counted up in
    /// `admit` and down in `released`, which the listener calls for every
    /// association it admitted. A std mutex: held for a map update only.
    live: Arc<Mutex<HashMap<String, u32>>>,
    /// Associations one AE title may hold at once when its modality has no
    /// limit of its own.
    per_ae_limit: u32,
}

pub(super) fn actor(admission: &Admission) -> Actor {
    Actor {
        user_id: None,
        name: format!("modality:{}", admission.calling_ae()),
        client_addr: Some(admission.peer().ip().to_string()),
        request_id: None,
    }
}

/// The C-STORE status for an instance the store refused. Comments go to the
/// peer, so they are fixed phrases: no UIDs, no patient data.
fn outcome_of(err: &IngestError) -> StoreOutcome {
    match err.failure_reason() {
        0xC000 => StoreOutcome::CannotUnderstand("cannot parse the data set".into()),
        0xA900 => StoreOutcome::DataSetMismatch("required attribute missing or invalid".into()),
        0x0111 => StoreOutcome::Duplicate,
        0xA700 => StoreOutcome::OutOfResources("instance too large or disk full".into()),
        _ => StoreOutcome::ProcessingFailure("the store failed; retry later".into()),
    }
}

impl ModalityService {
    /// `per_ae_limit`: associations one calling AE title may hold at once,
    /// unless its modality is registered with a limit of its own.
    pub fn new(imaging: Imaging, per_ae_limit: u32) -> Self {
        Self {
            imaging,
            transfers: Arc::default(),
            live: Arc::default(),
            per_ae_limit: per_ae_limit.max(1),
        }
    }

    /// Takes one of `calling_ae`'s association slots; `false` when it holds
    /// `limit` already.
    fn take_slot(&self, calling_ae: &str, limit: u32) -> bool {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = live.entry(calling_ae.to_owned()).or_default();
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    fn free_slot(&self, calling_ae: &str) {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = live.get_mut(calling_ae) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                live.remove(calling_ae);
            }
        }
    }

    /// Counts a stored instance into its association's tally of an
    /// earlier instance of its study; `false` when the study is not in the
    /// tally yet.
    fn count_again(&self, admission: &Admission, study_uid: &str) -> bool {
        let mut transfers = self
            .transfers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        transfers
            .entry(admission.peer())
            .or_default()
            .count_again(study_uid)
    }

    /// Adds a study to its association's tally. Returns the tally to audit
    /// now when the association has sent more studies than one tally holds.
    fn add_study(&self, admission: &Admission, study: StoredStudy) -> Vec<StoredStudy> {
        let mut transfers = self
            .transfers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        transfers
            .entry(admission.peer())
            .or_default()
            .add(study, STUDIES_PER_AUDIT)
    }

    /// Tallies a stored instance. The first instance of a study since the
    /// association's last audit events also links the study to a
    /// consortium patient, when the index did not have it linked already.
    async fn tally(&self, admission: &Admission, facility_id: i64, stored: Stored) {
        let header = stored.header;
        if self.count_again(admission, &header.study_uid) {
            return;
        }
        let patient_id = match (stored.patient_id, stored.outcome) {
            (Some(patient), _) => Some(patient),
            // Indexed just now, and the index had the study unlinked.
            (None, Outcome::Created) => {
                self.imaging
                    .link_study(
                        facility_id,
                        &header.study_uid,
                        &header.patient_id,
                        header.accession_number.as_deref(),
                    )
                    .await
            }
            // Stored before: the study may have been linked since, by hand
            // to another patient too, and that link stays.
            (None, Outcome::AlreadyStored) => self
                .imaging
                .study_linked(&header.study_uid)
                .await
                .and_then(|(_, patient)| patient),
        };
        let study = StoredStudy {
            study_uid: header.study_uid,
            instances: 1,
            facility_id,
            patient_id,
        };
        let full = self.add_study(admission, study);
        let owner = self
            .imaging
            .audit_owner(admission.calling_ae(), admission.peer());
        self.imaging
            .audit_stored_owed(&actor(admission), &full, &owner)
            .await;
    }

    async fn association_ended(&self, admission: &Admission) {
        self.free_slot(admission.calling_ae());
        let transfer = self
            .transfers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&admission.peer());
        if let Some(transfer) = transfer {
            let owner = self
                .imaging
                .audit_owner(admission.calling_ae(), admission.peer());
            self.imaging
                .audit_stored_owed(&actor(admission), &transfer.into_studies(), &owner)
                .await;
        }
    }

    async fn admit_ae(&self, calling_ae: &str, peer: SocketAddr) -> Result<Admission, Refusal> {
        let found = async {
            let mut conn = self.imaging.db.pool().acquire().await?;
            crate::modality::store::by_ae_title(&mut conn, calling_ae).await
        }
        .await;
        match found {
            Ok(Some(row)) => {
                // Refused as an unknown title: the answer must not tell a
                // stranger which titles are registered.
                if row.is_bound() && !crate::modality::host_allowed(&row.hosts(), peer.ip()) {
                    tracing::warn!(calling_ae, %peer, "registered AE title called from a host it is not bound to");
                    return Err(Refusal::CallingAeNotRecognized);
                }
                let limit = row
                    .max_associations
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(self.per_ae_limit);
                if !self.take_slot(calling_ae, limit) {
                    tracing::info!(calling_ae, %peer, limit, "AE title holds all its associations");
                    return Err(Refusal::Busy);
                }
                Ok(Admission::new(
                    row.facility_id.to_string(),
                    calling_ae,
                    peer,
                ))
            }
            Ok(None) => {
                tracing::info!(calling_ae, %peer, "unregistered AE title refused");
                Err(Refusal::CallingAeNotRecognized)
            }
            Err(err) => {
                // Transient: the modality may retry once the database is back.
                tracing::error!(error = %err, "looking up a calling AE title failed");
                Err(Refusal::Busy)
            }
        }
    }

    async fn store_instance(
        &self,
        admission: &Admission,
        mut request: StoreRequest,
    ) -> StoreOutcome {
        let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
            return StoreOutcome::ProcessingFailure("unknown facility".into());
        };
        // The instance's row records that this association owes its audit
        // event, in the instance's own transaction: the event itself is
        // written for the whole association when it ends.
        let ctx = IngestContext {
            facility_id,
            audit_owed_by: Some(
                self.imaging
                    .audit_owner(admission.calling_ae(), admission.peer()),
            ),
            ..IngestContext::default()
        };
        // A large data set was written to the store's staging directory as
        // it arrived, and ingest takes that file over rather than copying it
        // (`request.file` removes it at the end of this function if ingest
        // did not keep it); a small one is in memory.
        let store = &self.imaging.store;
        let (result, bytes) = match request.file.take_bytes() {
            Some(bytes) => {
                let size = bytes.len() as u64;
                (store.ingest_bytes(bytes, &ctx).await, size)
            }
            None => match request.file.path() {
                Some(path) => {
                    // Read before ingest takes the file over.
                    let size = tokio::fs::metadata(path).await.map_or(0, |m| m.len());
                    (store.ingest_staged(path, &ctx).await, size)
                }
                None => return StoreOutcome::ProcessingFailure("nothing was received".into()),
            },
        };
        store.tally().record(Via::Dimse, result.as_ref(), bytes);
        match result {
            Ok(stored) => {
                self.tally(admission, facility_id, stored).await;
                StoreOutcome::Stored
            }
            Err(err) => {
                if err.is_client_error() {
                    tracing::info!(error = %err, "C-STORE refused");
                } else {
                    tracing::error!(error = %err, "C-STORE failed");
                }
                outcome_of(&err)
            }
        }
    }

    async fn find_studies(
        &self,
        admission: &Admission,
        request: FindRequest,
    ) -> Result<Vec<InMemDicomObject>, FindFailure> {
        let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
            return Err(FindFailure::UnableToProcess("unknown facility".into()));
        };
        let reach = crate::policy::modality_reach(facility_id);
        let scope = reach.scope();
        let matches = ferry_dicom_store::find::find(
            &self.imaging.store,
            request.level,
            &request.identifier,
            &scope,
        )
        .await
        .map_err(|err| match err {
            FindError::InvalidQuery(_) => {
                FindFailure::UnableToProcess("a matching key is malformed".into())
            }
            err => {
                tracing::error!(error = %err, "C-FIND failed");
                FindFailure::OutOfResources("the index is unavailable".into())
            }
        })?;
        let mut study_uids: Vec<String> = matches.iter().map(|m| m.study_uid.clone()).collect();
        study_uids.sort();
        study_uids.dedup();
        if !study_uids.is_empty() {
            // Audited before the answer goes back; a failure fails the find.
            self.imaging
                .audit_reads(&actor(admission), &reach, "dicom.search", &study_uids, None)
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "recording a C-FIND failed");
                    FindFailure::OutOfResources("the audit trail is unavailable".into())
                })?;
        }
        Ok(matches.into_iter().map(|m| m.identifier).collect())
    }
}

impl ModalityService {
    async fn retrieve_instances(
        &self,
        admission: &Admission,
        request: RetrieveRequest,
    ) -> Result<Vec<Outgoing>, FindFailure> {
        let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
            return Err(FindFailure::UnableToProcess("unknown facility".into()));
        };
        let reach = crate::policy::modality_reach(facility_id);
        let rows = ferry_dicom_store::retrieve::instances_for(
            &self.imaging.store,
            request.level,
            &request.identifier,
            &reach.scope(),
        )
        .await
        .map_err(|err| match err {
            FindError::InvalidQuery(_) => {
                FindFailure::IdentifierMismatch("the unique keys are missing or malformed".into())
            }
            err => {
                tracing::error!(error = %err, "C-GET or C-MOVE failed");
                FindFailure::OutOfResources("the index is unavailable".into())
            }
        })?;
        let mut study_uids: Vec<String> = rows.iter().map(|r| r.study_uid.clone()).collect();
        study_uids.sort();
        study_uids.dedup();
        // Audited before anything is sent; a failure refuses the retrieve.
        self.imaging
            .audit_reads(
                &actor(admission),
                &reach,
                "dicom.retrieve",
                &study_uids,
                Some(rows.len()),
            )
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "recording a retrieve failed");
                FindFailure::OutOfResources("the audit trail is unavailable".into())
            })?;
        Ok(rows
            .into_iter()
            .map(|row| Outgoing {
                sop_class_uid: row.sop_class_uid,
                sop_instance_uid: row.sop_instance_uid,
                transfer_syntax: row.transfer_syntax,
                key: row.blob_key,
            })
            .collect())
    }

    /// Whether each instance is stored and reachable by the caller's
    /// facility, so that its modality may delete its own copy.
    async fn held(&self, admission: &Admission, references: Vec<(String, String)>) -> Vec<bool> {
        let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
            return vec![false; references.len()];
        };
        let scope = crate::policy::modality_reach(facility_id).scope();
        let store = &self.imaging.store;
        let mut held = Vec::with_capacity(references.len());
        for (class, instance) in &references {
            let found = match store.instance(instance).await {
                Ok(Some(row)) if row.sop_class_uid == *class => store
                    .study_in_scope(&row.study_uid, &scope)
                    .await
                    .map(|study| study.is_some()),
                Ok(_) => Ok(false),
                Err(err) => Err(err),
            };
            held.push(found.unwrap_or_else(|err| {
                // Not committed: the modality keeps its copy and asks again.
                tracing::error!(error = %err, "checking a storage commitment failed");
                false
            }));
        }
        held
    }

    async fn destination(&self, admission: &Admission, ae_title: &str) -> Option<MoveDestination> {
        let facility_id = admission.facility_id().parse::<i64>().ok()?;
        let found = async {
            let mut conn = self.imaging.db.pool().acquire().await?;
            crate::modality::destinations::find(&mut conn, facility_id, ae_title).await
        }
        .await;
        match found {
            Ok(row) => row.map(|row| row.target()),
            Err(err) => {
                tracing::error!(error = %err, "looking up a C-MOVE destination failed");
                None
            }
        }
    }
}

impl DimseService for ModalityService {
    fn admit<'a>(
        &'a self,
        calling_ae: &'a str,
        _called_ae: &'a str,
        peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>> {
        Box::pin(self.admit_ae(calling_ae, peer))
    }

    fn store<'a>(
        &'a self,
        admission: &'a Admission,
        request: StoreRequest,
    ) -> BoxFuture<'a, StoreOutcome> {
        Box::pin(self.store_instance(admission, request))
    }

    fn find<'a>(
        &'a self,
        admission: &'a Admission,
        request: FindRequest,
    ) -> BoxFuture<'a, Result<Vec<InMemDicomObject>, FindFailure>> {
        Box::pin(self.find_studies(admission, request))
    }

    fn worklist<'a>(
        &'a self,
        admission: &'a Admission,
        identifier: InMemDicomObject,
    ) -> BoxFuture<'a, Result<Vec<InMemDicomObject>, FindFailure>> {
        Box::pin(async move {
            let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
                return Err(FindFailure::UnableToProcess("unknown facility".into()));
            };
            self.imaging.worklist(facility_id, &identifier).await
        })
    }

    fn procedure_step<'a>(
        &'a self,
        admission: &'a Admission,
        step: ProcedureStep,
    ) -> BoxFuture<'a, Result<(), StepFailure>> {
        Box::pin(async move {
            let Ok(facility_id) = admission.facility_id().parse::<i64>() else {
                return Err(StepFailure {
                    status: 0x0110,
                    comment: "unknown facility".into(),
                });
            };
            self.imaging
                .procedure_step(admission, facility_id, step)
                .await
        })
    }

    fn retrieve<'a>(
        &'a self,
        admission: &'a Admission,
        request: RetrieveRequest,
    ) -> BoxFuture<'a, Result<Vec<Outgoing>, FindFailure>> {
        Box::pin(self.retrieve_instances(admission, request))
    }

    fn read_outgoing<'a>(
        &'a self,
        _admission: &'a Admission,
        instance: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        // Only instances `retrieve` named for this admission reach here.
        Box::pin(async move {
            self.imaging
                .store
                .blobs()
                .read(&instance.key, 0)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn committed<'a>(
        &'a self,
        admission: &'a Admission,
        references: Vec<(String, String)>,
    ) -> BoxFuture<'a, Vec<bool>> {
        Box::pin(self.held(admission, references))
    }

    fn move_destination<'a>(
        &'a self,
        admission: &'a Admission,
        ae_title: &'a str,
    ) -> BoxFuture<'a, Option<MoveDestination>> {
        Box::pin(self.destination(admission, ae_title))
    }

    fn released<'a>(&'a self, admission: &'a Admission) -> BoxFuture<'a, ()> {
        Box::pin(self.association_ended(admission))
    }
}
