//! Imaging: the server's side of the imaging store (`ferry-dicom-store`).
//!
//! The store knows nothing of users, roles or facilities' modalities; it asks
//! the server through two traits, implemented here:
//!
//! - [`access`]: `StudyAccess` for DICOMweb: a bearer token becomes a
//!   `Principal` whose scope [`crate::policy::study_reach`] decides, and what
//!   callers did goes to the audit trail.
//! - [`dimse`]: `DimseService` for the DIMSE listener: a calling AE title is
//!   admitted when a facility registered it (see [`crate::modality`]), and what
//!   it sends is filed under that facility.
//! - [`import`]: `ferry dicom import`, a folder through the same ingest.
//! - [`patient_studies`]: `GET /patients/{id}/studies`, a patient's studies
//!   from every facility the caller may read.
//!
//! Both doors link a new study to the examination ordered with its accession
//! number (or the Study Instance UID the worklist gave, [`worklist`]), else
//! to the consortium patient whose record number at the sending facility
//! equals the DICOM Patient ID, and audit what was
//! stored: STOW-RS per request and study ([`Imaging::after_store`]), DIMSE per
//! association and study, as DICOM's "Instances Transferred" audit message
//! is ([`dimse`]), the debt recorded in each instance's index row until then
//! ([`Imaging::audit_what_is_owed`]). Reads are audited with the basis that
//! allowed them ([`Imaging::audit_reads`]).

pub mod access;
pub mod deletion;
pub mod dimse;
pub mod forward;
pub mod forward_routes;
pub mod forward_rules;
pub mod import;
pub mod patient_studies;
pub mod prior;
mod tally;
pub mod unlinked;
pub mod unlinked_routes;
pub mod worklist;

use std::sync::Arc;

use anyhow::Context;
use ferry_dicom_store::blob::{BlobStore, FsBlobStore, S3BlobStore};
use ferry_dicom_store::{Store, StoreConfig};

use crate::audit::{Action, Actor, AuditEntry};
use crate::config::Settings;
use crate::db::Db;

/// Opens the imaging store on the server's pool, with its blobs under
/// `dicom_dir` or, when `s3_bucket` is set, in that bucket. `node` is the
/// serving node's name ([`crate::datadir::NodeLock::node_id`]): nodes that
/// share a database must not share it. Callers run [`Store::recover`] before
/// the first ingest.
pub async fn open_store(settings: &Settings, db: &Db, node: &str) -> anyhow::Result<Store> {
    open_store_as(settings, db, node, "staging").await
}

/// As [`open_store`], as another writer than the server: `node` names its
/// rows in the ingest journal and `staging` its staging directory, so that
/// its recovery and the server's never remove each other's work in progress
/// (the command-line import runs beside a serving node).
pub async fn open_store_as(
    settings: &Settings,
    db: &Db,
    node: &str,
    staging: &str,
) -> anyhow::Result<Store> {
    let dir = settings.dicom_dir();
    let blobs: Arc<dyn BlobStore> = match settings.s3().map_err(anyhow::Error::msg)? {
        Some(s3) => Arc::new(
            S3BlobStore::new(&s3)
                .with_context(|| format!("opening the S3 bucket {}", s3.bucket))?,
        ),
        None => Arc::new(
            FsBlobStore::new(dir.join("blobs"))
                .with_context(|| format!("opening the blob store in {}", dir.display()))?,
        ),
    };
    // Staging beside the blobs, on the same file system, so a put is a rename.
    let config = StoreConfig {
        node: node.to_owned(),
        ..StoreConfig::new(dir.join(staging))
    };
    Store::open(db.pool().clone(), blobs, config)
        .await
        .context("opening the imaging store")
}

/// Instances stored into one study, as one `dicom.store` audit event tells
/// them: the study's facility and patient are the event's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStudy {
    pub study_uid: String,
    pub instances: usize,
    pub facility_id: i64,
    /// The consortium patient the study is linked to.
    pub patient_id: Option<i64>,
}

/// What both doors into the store share: the database and the store.
#[derive(Clone)]
pub struct Imaging {
    db: Db,
    /// Where the events of searches and retrievals go (group commit).
    journal: crate::audit::journal::Journal,
    store: Store,
    sharing: crate::policy::ConsentRule,
    /// The DIMSE listeners' association counts, for the metrics.
    associations: ferry_dicom_store::dimse::Associations,
}

impl std::fmt::Debug for Imaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imaging").finish_non_exhaustive()
    }
}

impl Imaging {
    pub fn new(
        db: Db,
        journal: crate::audit::journal::Journal,
        store: Store,
        sharing: crate::policy::ConsentRule,
    ) -> Self {
        Self {
            db,
            journal,
            store,
            sharing,
            associations: ferry_dicom_store::dimse::Associations::default(),
        }
    }

    /// The counts every DIMSE listener of this node keeps together.
    pub fn associations(&self) -> &ferry_dicom_store::dimse::Associations {
        &self.associations
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// After instances went into a study: links it to a consortium patient
    /// if it is not linked yet ([`link_study`](Self::link_study)), then
    /// audits them. A failure to audit is returned: the caller's request
    /// fails with it, though the instances stay stored.
    pub async fn after_store(
        &self,
        actor: &Actor,
        study_uid: &str,
        instances: usize,
    ) -> anyhow::Result<()> {
        let Some((facility_id, patient_id)) = self.study_linked(study_uid).await else {
            return Ok(());
        };
        let stored = StoredStudy {
            study_uid: study_uid.to_owned(),
            instances,
            facility_id,
            patient_id,
        };
        self.try_audit_stored(actor, std::slice::from_ref(&stored), None)
            .await
    }

    /// Reads a study's facility and patient, linking the study first when
    /// it is not linked yet; `None` when there is no such study (or it
    /// could not be read, which is logged).
    pub async fn study_linked(&self, study_uid: &str) -> Option<(i64, Option<i64>)> {
        let study = match self.store.study(study_uid).await {
            Ok(study) => study?,
            Err(err) => {
                tracing::error!(error = %err, study_uid, "reading a stored study failed");
                return None;
            }
        };
        let patient_id = match study.patient_id {
            Some(patient) => Some(patient),
            None => {
                self.link_study(
                    study.facility_id,
                    study_uid,
                    &study.dicom_patient_id,
                    study.accession_number.as_deref(),
                )
                .await
            }
        };
        Some((study.facility_id, patient_id))
    }

    /// A study named in a request body, as the store holds it. Only read:
    /// whether the caller may use it is [`crate::policy::check_named_studies`]'s
    /// decision, which must not be preceded by any write.
    pub async fn named_study(
        &self,
        study_uid: &str,
    ) -> anyhow::Result<Option<ferry_dicom_store::index::StudyRow>> {
        Ok(self.store.study(study_uid).await?)
    }

    /// Links a study that is not linked yet to the consortium patient whose
    /// record number at the sending facility is the DICOM Patient ID, and
    /// returns that patient. Failures are logged, not returned: the
    /// instances are already stored and acknowledged.
    pub async fn link_study(
        &self,
        facility_id: i64,
        study_uid: &str,
        dicom_patient_id: &str,
        accession_number: Option<&str>,
    ) -> Option<i64> {
        let linked = async {
            if let Some(patient) = self
                .link_to_order(facility_id, study_uid, accession_number)
                .await?
            {
                return Ok(Some(patient));
            }
            let patient_id = sqlx::query_scalar::<_, i64>(
                "SELECT patient_id FROM patient_record \
                 WHERE facility_id = $1 AND record_number = $2",
            )
            .bind(facility_id)
            .bind(dicom_patient_id.trim())
            .fetch_optional(self.db.pool())
            .await?;
            if let Some(patient) = patient_id {
                self.store.link_patient(study_uid, Some(patient)).await?;
            }
            Ok::<_, anyhow::Error>(patient_id)
        }
        .await;
        linked.unwrap_or_else(|err| {
            tracing::error!(error = %err, study_uid, "linking a stored study failed");
            None
        })
    }

    /// Links a study to the examination ordered at `facility_id` that it
    /// names by accession number (or by the Study Instance UID the worklist
    /// gave), and marks that examination performed with it; the patient,
    /// or `None` when it names none. Whatever Patient ID the modality typed,
    /// the order decides whose images these are.
    async fn link_to_order(
        &self,
        facility_id: i64,
        study_uid: &str,
        accession_number: Option<&str>,
    ) -> anyhow::Result<Option<i64>> {
        let accession = accession_number.map(str::trim).filter(|a| !a.is_empty());
        // Read first: most studies name no order, and need no write.
        let mut conn = self.db.pool().acquire().await?;
        let named =
            crate::examination::worklist::named(&mut conn, facility_id, accession, Some(study_uid))
                .await?;
        drop(conn);
        let Some((exam, patient)) = named else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        let now = crate::time::now_ms();
        let performed = crate::examination::store::finish(
            &mut tx,
            exam,
            crate::examination::ExamStatus::Performed,
            Some(study_uid),
            now,
        )
        .await?;
        crate::audit::append(
            &mut tx,
            &Actor::system("imaging"),
            AuditEntry::new(Action::Update, "examination.matched")
                .entity("examination", exam)
                .patient(patient)
                .facility(facility_id)
                .detail(serde_json::json!({ "study_uid": study_uid, "performed": performed })),
        )
        .await?;
        tx.commit().await?;
        self.store.link_patient(study_uid, Some(patient)).await?;
        Ok(Some(patient))
    }

    /// Records a `dicom.store` event per study for the instances stored
    /// into it, all in one transaction. Failures are logged, as for
    /// [`link_study`](Self::link_study).
    pub async fn audit_stored(&self, actor: &Actor, studies: &[StoredStudy]) {
        if let Err(err) = self.try_audit_stored(actor, studies, None).await {
            tracing::error!(error = %err, studies = studies.len(), "recording stored studies failed");
        }
    }

    /// As [`audit_stored`](Self::audit_stored), for instances whose index
    /// rows record that `owed_by` owes their events: settled in the same
    /// transaction. When this fails the debt stays in the index, and
    /// [`audit_what_is_owed`](Self::audit_what_is_owed) pays it at the
    /// node's next start.
    pub async fn audit_stored_owed(&self, actor: &Actor, studies: &[StoredStudy], owed_by: &str) {
        if let Err(err) = self.try_audit_stored(actor, studies, Some(owed_by)).await {
            tracing::error!(error = %err, studies = studies.len(), "recording stored studies failed; owed until the next start");
        }
    }

    /// The name under which a DIMSE association of this node owes the
    /// audit events of what it stored: unique among the node's live
    /// associations (the peer's address and port), and starting with the
    /// node's name, so that the node finds its own debts after a crash.
    pub fn audit_owner(&self, calling_ae: &str, peer: std::net::SocketAddr) -> String {
        format!("{}/{calling_ae}/{peer}", self.store.config().node)
    }

    async fn try_audit_stored(
        &self,
        actor: &Actor,
        studies: &[StoredStudy],
        owed_by: Option<&str>,
    ) -> anyhow::Result<()> {
        if studies.is_empty() {
            return Ok(());
        }
        // One write transaction for the lot: on SQLite each is a turn of the
        // one write lock that ingest's group commit is also waiting for.
        let mut tx = self.db.begin_write().await?;
        for study in studies {
            let mut entry = AuditEntry::new(Action::Create, "dicom.store")
                .entity("dicom_study", &study.study_uid)
                .facility(study.facility_id)
                .detail(serde_json::json!({ "instances": study.instances }));
            if let Some(patient) = study.patient_id {
                entry = entry.patient(patient);
            }
            crate::audit::append(&mut tx, actor, entry).await?;
            if let Some(owner) = owed_by {
                ferry_dicom_store::index::store::settle_owed_audit(
                    &mut tx,
                    owner,
                    &study.study_uid,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes the `dicom.store` events this node's associations owed when
    /// it stopped (killed before they ended), from the index rows that
    /// record the debt, and settles them; returns how many studies. Run at
    /// startup, before the DIMSE listener opens: no association of this
    /// node is live then.
    pub async fn audit_what_is_owed(&self) -> anyhow::Result<usize> {
        let prefix = format!("{}/", self.store.config().node);
        let mut tx = self.db.begin_write().await?;
        let owed = ferry_dicom_store::index::store::owed_audits(&mut tx, &prefix).await?;
        for debt in &owed {
            // `node/AE/peer`: the peer comes last and holds no `/` (an AE
            // title may).
            let mut parts = debt.owed_by[prefix.len()..].rsplitn(2, '/');
            let peer = parts
                .next()
                .and_then(|p| p.parse::<std::net::SocketAddr>().ok());
            let calling_ae = parts.next().unwrap_or_default();
            let actor = Actor {
                user_id: None,
                name: format!("modality:{calling_ae}"),
                client_addr: peer.map(|p| p.ip().to_string()),
                request_id: None,
            };
            let mut entry = AuditEntry::new(Action::Create, "dicom.store")
                .entity("dicom_study", &debt.study_uid)
                .facility(debt.facility_id)
                .detail(serde_json::json!({ "instances": debt.instances, "recovered": true }));
            if let Some(patient) = debt.patient_id {
                entry = entry.patient(patient);
            }
            crate::audit::append(&mut tx, &actor, entry).await?;
            ferry_dicom_store::index::store::settle_owed_audit(
                &mut tx,
                &debt.owed_by,
                &debt.study_uid,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(owed.len())
    }

    /// Records an `action` event (`dicom.search`, `dicom.retrieve`) per
    /// study whose data was sent, each with the basis on which the reader
    /// reached it (`details.access`, see [`crate::policy::StudyBasis`]):
    /// one query for the lot, whatever their number, and one turn of the
    /// [journal](crate::audit::journal::Journal).
    pub async fn audit_reads(
        &self,
        actor: &Actor,
        reach: &crate::policy::StudyReach,
        action: &str,
        study_uids: &[String],
        instances: Option<usize>,
    ) -> anyhow::Result<()> {
        if study_uids.is_empty() {
            return Ok(());
        }
        let mut binds = ferry_dicom_store::ScopeBinds::default();
        let uid_marks: Vec<String> = study_uids
            .iter()
            .map(|uid| binds.push(ferry_dicom_store::ScopeValue::Text(uid.clone())))
            .collect();
        let basis = binds
            .condition(&reach.basis())
            .unwrap_or_else(|| "NULL".to_owned());
        let sql = format!(
            "SELECT s.study_uid, s.facility_id, s.patient_id, {basis} FROM dicom_study s \
             WHERE s.study_uid IN ({})",
            uid_marks.join(", ")
        );
        let rows: Vec<StudyRead> = sqlx::query_as_with(&sql, binds.into_arguments()?)
            .fetch_all(self.db.pool())
            .await?;
        self.journal
            .record(actor, read_entries(action, &rows, instances))
            .await
    }
}

/// A study read, as the audit trail records it: UID, sending facility,
/// patient and the basis of access ([`crate::policy::StudyBasis`]).
pub type StudyRead = (String, i64, Option<i64>, Option<String>);

/// An `action` event per study read, with its basis in `details.access`.
pub fn read_entries(
    action: &str,
    reads: &[StudyRead],
    instances: Option<usize>,
) -> Vec<AuditEntry> {
    reads
        .iter()
        .map(|(study_uid, facility_id, patient_id, basis)| {
            let mut detail = serde_json::json!({ "access": basis });
            if let Some(instances) = instances {
                detail["instances"] = serde_json::json!(instances);
            }
            let mut entry = AuditEntry::new(Action::Read, action)
                .entity("dicom_study", study_uid)
                .facility(*facility_id)
                .detail(detail);
            if let Some(patient) = patient_id {
                entry = entry.patient(*patient);
            }
            entry
        })
        .collect()
}
