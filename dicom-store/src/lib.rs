//! Ferry's imaging store: the one shared imaging record of the consortium.
//!
//! Every door into the store (STOW-RS, C-STORE, folder import) goes through
//! [`Store::ingest`], which acknowledges an instance only once its bytes are
//! durable in a [`blob::BlobStore`] and its rows are committed to the index.
//!
//! - [`validate`]: parse an instance up to its pixel data, check the required
//!   attributes, return its typed [`validate::InstanceHeader`].
//! - [`ingest`]: the ingest path, its crash-safety journal, and the rules for
//!   duplicates and conflicts (read them there).
//! - [`store`]: the [`Store`] handle, startup recovery, and reads (an instance's
//!   bytes, a series' metadata) for WADO-RS.
//! - [`blob`]: where bytes live ([`blob::FsBlobStore`]; [`blob::s3`] for S3-compatible object storage).
//! - [`index`]: the study/series/instance tables and their SQL, on SQLite or
//!   PostgreSQL through one sqlx `AnyPool`, with group commit.
//! - [`dicomweb`]: STOW-RS, QIDO-RS, WADO-RS (rendered frames and ECG
//!   plots among it) and WADO-URI under [`router`].
//! - [`json`]: the DICOM JSON model (PS3.18 Annex F).
//! - [`uid`]: validation and generation of DICOM unique identifiers (PS3.5 §9.1).
//! - [`lengths`]: the check that every declared length fits in the file,
//!   before any parser allocates from it.
//! - [`pixels`]: frames out of stored pixel data; [`render`]: one frame
//!   decoded and windowed to JPEG or PNG.
//! - [`ecg`]: 12-lead ECG plots (SVG, PNG) of waveform instances.
//! - [`sr`]: a signed reading report encoded as a Basic Text SR, to be
//!   ingested into the study it reads.
//! - [`error`]: [`IngestError`] (with its PS3.18 failure reasons) and [`StoreError`].
//! - [`find`]: C-FIND answered from the index with QIDO-RS's query machinery.
//! - [`dimse`]: the DIMSE service-class provider (C-ECHO, C-STORE, C-FIND)
//!   that modalities and PACS talk to; it reaches the store through
//!   [`dimse::DimseService`].
//!
//! It depends on neither `ferry-server` nor `ferry-signaling`. Who the caller
//! is and what they may see comes in through [`StudyAccess`], which the server
//! implements.

#![warn(missing_docs)]

pub mod blob;
pub mod delete;
pub mod dicomweb;
pub mod dimse;
pub mod ecg;
pub mod error;
pub mod find;
pub mod index;
pub mod inflate;
pub mod ingest;
pub mod json;
pub mod lengths;
pub mod one_frame;
pub mod pixels;
pub mod render;
pub mod retrieve;
pub mod sr;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod transcode;
pub mod uid;
pub mod validate;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use dicomweb::router;
pub use error::{IngestError, StoreError};
pub use ingest::{IngestContext, Outcome, Stored};
pub use store::{Store, StoreConfig};

/// Which studies a caller may read. Built by the server, applied by the store
/// to every query, so a study outside it is as invisible as a missing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StudyScope {
    /// Every study (a consortium administrator, a reading radiologist).
    All,
    /// The studies for which a SQL condition holds. The server writes it,
    /// since it owns the tables that decide (consultations, reading requests,
    /// consents); the store joins it into each query as it is, so scope
    /// costs one indexed lookup per candidate study rather than a list of
    /// every readable UID loaded per request.
    Where(ScopeCondition),
}

/// A SQL condition on `dicom_study s`, with `$1`..`$n` standing for `binds`
/// in order (a number may appear more than once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCondition {
    /// The condition.
    pub sql: String,
    /// The values of its placeholders.
    pub binds: Vec<ScopeValue>,
}

/// A value bound into a [`ScopeCondition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeValue {
    /// An integer (an id, an instant in milliseconds).
    Int(i64),
    /// Text.
    Text(String),
}

impl StudyScope {
    /// Studies sent by one facility: what a modality acting for it may find.
    pub fn facility(facility_id: i64) -> Self {
        Self::Where(ScopeCondition {
            sql: "s.facility_id = $1".to_owned(),
            binds: vec![ScopeValue::Int(facility_id)],
        })
    }

    /// No study at all.
    pub fn nothing() -> Self {
        Self::Where(ScopeCondition {
            sql: "1 = 0".to_owned(),
            binds: Vec::new(),
        })
    }

    /// The condition as SQL for a query with placeholders of its own:
    /// `placeholder` is called once per distinct value, in order of first
    /// use, and returns the placeholder (`$7`) to write in its place.
    /// `None` for [`StudyScope::All`].
    pub fn sql(&self, mut placeholder: impl FnMut(&ScopeValue) -> String) -> Option<String> {
        let Self::Where(condition) = self else {
            return None;
        };
        let mut renamed: Vec<Option<String>> = vec![None; condition.binds.len()];
        let mut out = String::with_capacity(condition.sql.len() + 16);
        let mut rest = condition.sql.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len() - at - 1, |n| n);
            let number = rest[at + 1..at + 1 + digits].parse::<usize>().ok();
            match number.filter(|n| (1..=condition.binds.len()).contains(n)) {
                Some(n) => {
                    let name = renamed[n - 1]
                        .get_or_insert_with(|| placeholder(&condition.binds[n - 1]))
                        .clone();
                    out.push_str(&name);
                }
                // The server writes these conditions; a stray `$` is a bug
                // that must fail closed, not bind the wrong value.
                None => return Some("1 = 0".to_owned()),
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        Some(format!("({out})"))
    }
}

/// The values of a query that joins scope conditions into SQL of its own,
/// numbered as they are added: [`push`](Self::push) a value of the query's
/// own for its placeholder, [`condition`](Self::condition) a scope's SQL
/// with its values renumbered after them, then run the query with
/// [`into_arguments`](Self::into_arguments) (`sqlx::query_as_with` and its
/// kin).
#[derive(Debug, Default)]
pub struct ScopeBinds {
    values: Vec<ScopeValue>,
}

impl ScopeBinds {
    /// Adds a value; returns its placeholder (`$3`).
    pub fn push(&mut self, value: ScopeValue) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// `scope`'s condition, its values added ([`StudyScope::sql`]); `None`
    /// for [`StudyScope::All`].
    pub fn condition(&mut self, scope: &StudyScope) -> Option<String> {
        scope.sql(|value| self.push(value.clone()))
    }

    /// The values, bound in order.
    pub fn into_arguments(self) -> Result<sqlx::any::AnyArguments<'static>, sqlx::Error> {
        use sqlx::Arguments;
        let mut arguments = sqlx::any::AnyArguments::default();
        for value in self.values {
            match value {
                ScopeValue::Int(n) => arguments.add(n),
                ScopeValue::Text(t) => arguments.add(t),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(arguments)
    }
}

/// An authenticated caller, as the server describes it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who it is, for the audit trail and logs (an opaque id, never a name).
    pub subject: String,
    /// What the caller may read.
    pub scope: StudyScope,
    /// The facility the caller's uploads are filed under; `None` if the
    /// caller may not store.
    pub store_facility: Option<i64>,
}

/// Something a caller did with a study, reported to [`StudyAccess::audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessEvent {
    /// Instances were stored into the study.
    Stored {
        /// The study.
        study_uid: String,
        /// How many instances of the request went into it.
        instances: usize,
    },
    /// Instances, their metadata, frames or bulk data were sent.
    Retrieved {
        /// The study.
        study_uid: String,
        /// How many instances the answer drew on.
        instances: usize,
    },
    /// A query was answered; the studies whose data it returned.
    Searched {
        /// Studies in the results.
        study_uids: Vec<String>,
    },
}

/// Failure of the server's side of [`StudyAccess`].
#[derive(Debug, thiserror::Error)]
#[error("access check failed: {0}")]
pub struct AccessError(pub String);

/// What the store needs from the server: who a caller is, and a place to
/// record what they did. Implemented by the server, held as
/// `Arc<dyn StudyAccess>` in [`StoreState`].
pub trait StudyAccess: Send + Sync + std::fmt::Debug + 'static {
    /// Resolves a bearer token to a caller; `Ok(None)` for an unknown or
    /// expired token (the store answers 401).
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AccessError>>;

    /// Records an access in the audit trail, durably, before the answer is
    /// sent: a failure fails the request (500), so nothing is read without
    /// a trace. Stored instances stay stored; a retried STOW-RS stores
    /// nothing twice.
    fn audit<'a>(
        &'a self,
        principal: &'a Principal,
        event: AccessEvent,
    ) -> BoxFuture<'a, Result<(), AccessError>>;
}

/// Everything the DICOMweb routes need. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreState {
    /// The store.
    pub store: Store,
    /// Who callers are.
    pub access: Arc<dyn StudyAccess>,
    /// The URL prefix under which the server mounts [`router`] (for example
    /// `/dicomweb`), used to build Retrieve URLs; no trailing slash.
    pub base_url: String,
    /// The absolute DICOMweb root clients use (`https://host/dicomweb`), for
    /// bulk data URIs; `None` builds it from each request's `Host` header.
    /// Some clients (dicomweb-client among them) send `Host` without the
    /// port, so a server on a non-default port should set this.
    pub public_root: Option<String>,
    /// The most bytes one STOW-RS request may carry.
    pub max_request_bytes: u64,
    /// The most parts (instances) one STOW-RS request may carry; see
    /// [`DEFAULT_MAX_PARTS`].
    pub max_parts: usize,
}

/// The default of [`StoreState::max_parts`]: a thousand instances is a
/// large series (a thin-slice CT) in one request, and bounds what one request
/// can cost per part (a staged file, a task, an answer item of a few hundred
/// bytes: well under a megabyte of answer). DICOMweb senders already batch
/// (dcm4che's `stowrs`, OHIF and dicomweb-client send one instance or a few
/// per request); one holding more sends further requests.
pub const DEFAULT_MAX_PARTS: usize = 1000;
