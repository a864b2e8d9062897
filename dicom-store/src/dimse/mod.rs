//! DIMSE service-class provider: the door through which modalities and PACS
//! send images to Ferry (C-STORE), check that Ferry is there (C-ECHO), ask
//! what it holds (C-FIND) and take it back (C-GET, C-MOVE).
//!
//! `dicom-ul` gives us PDUs and nothing above them. Everything from the
//! association state machine upwards is here, because an SCP needs control
//! that `dicom-ul`'s server association does not offer: per-context transfer
//! syntax policy, admission by the store (not a fixed AE list), timeouts on
//! every read, and data sets streamed to disk fragment by fragment.
//!
//! Module map:
//!
//! - [`listener`]: [`serve`], the accept loop, graceful shutdown, and
//!   [`DimseConfig`].
//! - `negotiate`: which presentation contexts are accepted, with which
//!   transfer syntax, and the A-ASSOCIATE-AC/RJ built from that.
//! - `transport`: reading and writing whole PDUs on a TCP or TLS stream,
//!   with timeouts and size limits.
//! - [`tls`]: DICOM TLS, for the listener and for associations Ferry opens.
//! - `association`: one association's loop: reassembling P-DATA fragments
//!   into commands and data sets, and dispatching them.
//! - `message`: DIMSE command sets (always Implicit VR Little Endian) and
//!   their fragmentation into P-DATA PDUs.
//! - `echo`, `store`, `find`: the services that answer on the association
//!   (`find` also answers the Modality Worklist).
//! - `mpps`: Modality Performed Procedure Step, N-CREATE and N-SET.
//! - `commitment`: Storage Commitment, N-ACTION and the N-EVENT-REPORT
//!   that answers it.
//! - `retrieve`: C-GET and C-MOVE, whose C-STORE sub-operations go back on
//!   the same association (C-GET) or out through [`scu`] (C-MOVE).
//! - [`scu`]: an outgoing storage association, for C-MOVE and forwarding.
//! - [`error`]: [`DimseError`], why an association ended badly.
//!
//! The store side is reached only through the [`DimseService`] trait, so this
//! module knows nothing of blobs, the index or the database.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use dicom_object::InMemDicomObject;

mod association;
mod commitment;
mod echo;
pub mod error;
mod find;
pub mod listener;
mod message;
mod mpps;
pub(crate) mod negotiate;
mod retrieve;
pub mod scu;
mod store;
pub mod tls;
mod transport;

#[cfg(test)]
mod tests;

pub use error::DimseError;
pub use listener::{serve, Associations, DimseConfig};
pub use tls::{DimseTls, DimseTlsClient};

/// A boxed future as returned by [`DimseService`]; boxed so the trait stays
/// usable as `Arc<dyn DimseService>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the store does with DIMSE requests. The server implements this on top
/// of ingest and the index; tests implement it in memory.
pub trait DimseService: Send + Sync + 'static {
    /// Decides whether `calling_ae` may open an association with us.
    ///
    /// The listener has already checked `called_ae` against
    /// [`DimseConfig::ae_title`]; it is passed on for services that serve
    /// more than one title. A [`Refusal`] becomes an A-ASSOCIATE-RJ.
    ///
    /// Asynchronous so that the service can look the caller up where the
    /// truth is (a database shared by several nodes) at every association,
    /// rather than in a cache that a change made on another node would not
    /// reach.
    fn admit<'a>(
        &'a self,
        calling_ae: &'a str,
        called_ae: &'a str,
        peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>>;

    /// Takes in one instance received by C-STORE.
    ///
    /// The instance is a complete Part 10 file (see [`StagedFile`]), in
    /// memory or staged on disk; the service keeps it ([`StagedFile::persist`]
    /// or its own copy) or lets it go.
    fn store<'a>(
        &'a self,
        admission: &'a Admission,
        request: StoreRequest,
    ) -> BoxFuture<'a, StoreOutcome>;

    /// Answers one C-FIND. Each returned object is sent as one pending
    /// response, in order.
    fn find<'a>(
        &'a self,
        admission: &'a Admission,
        request: FindRequest,
    ) -> BoxFuture<'a, Result<Vec<InMemDicomObject>, FindFailure>>;

    /// Answers a Modality Worklist C-FIND (PS3.4 Annex K): the scheduled
    /// procedure steps the identifier's keys match, each with the return
    /// keys it asked for. The default offers no worklist.
    fn worklist<'a>(
        &'a self,
        admission: &'a Admission,
        identifier: InMemDicomObject,
    ) -> BoxFuture<'a, Result<Vec<InMemDicomObject>, FindFailure>> {
        let _ = (admission, identifier);
        Box::pin(async {
            Err(FindFailure::UnableToProcess(
                "no worklist is offered".into(),
            ))
        })
    }

    /// Takes a Modality Performed Procedure Step N-CREATE or N-SET (PS3.4
    /// Annex F.7). The default takes none.
    fn procedure_step<'a>(
        &'a self,
        admission: &'a Admission,
        step: ProcedureStep,
    ) -> BoxFuture<'a, Result<(), StepFailure>> {
        let _ = (admission, step);
        Box::pin(async {
            Err(StepFailure {
                status: 0x0110,
                comment: "procedure steps are not taken".into(),
            })
        })
    }

    /// Storage commitment (PS3.4 Annex J): for each (SOP Class UID, SOP
    /// Instance UID) asked about, whether the store holds it for this
    /// caller, so that the modality may delete its copy. The default holds
    /// nothing.
    fn committed<'a>(
        &'a self,
        admission: &'a Admission,
        references: Vec<(String, String)>,
    ) -> BoxFuture<'a, Vec<bool>> {
        let _ = admission;
        Box::pin(async move { vec![false; references.len()] })
    }

    /// The stored instances a C-GET or C-MOVE names, within what the
    /// caller may see. Each is then read with [`read_outgoing`] and sent as
    /// a C-STORE sub-operation. The default offers no retrieve.
    ///
    /// [`read_outgoing`]: DimseService::read_outgoing
    fn retrieve<'a>(
        &'a self,
        admission: &'a Admission,
        request: RetrieveRequest,
    ) -> BoxFuture<'a, Result<Vec<Outgoing>, FindFailure>> {
        let _ = (admission, request);
        Box::pin(async {
            Err(FindFailure::UnableToProcess(
                "retrieve is not offered".into(),
            ))
        })
    }

    /// One instance named by [`retrieve`](DimseService::retrieve), as the
    /// Part 10 file it is stored as.
    fn read_outgoing<'a>(
        &'a self,
        admission: &'a Admission,
        instance: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        let _ = (admission, instance);
        Box::pin(async { Err("retrieve is not offered".to_owned()) })
    }

    /// Where a C-MOVE to `ae_title` goes, for this caller; `None` for a
    /// destination it may not send to (status 0xA801).
    fn move_destination<'a>(
        &'a self,
        admission: &'a Admission,
        ae_title: &'a str,
    ) -> BoxFuture<'a, Option<MoveDestination>> {
        let _ = (admission, ae_title);
        Box::pin(async { None })
    }

    /// The association of `admission` has ended, however it ended: release,
    /// abort, a broken connection or shutdown, or an accept that could not
    /// be sent. Called once for every admission. Lets a service record what an
    /// association did as a whole (an audit event per study transferred, as
    /// DICOM's "Instances Transferred" audit message does) rather than per
    /// instance. The default does nothing.
    fn released<'a>(&'a self, admission: &'a Admission) -> BoxFuture<'a, ()> {
        let _ = admission;
        Box::pin(async {})
    }
}

/// Who is on the other end of an association, as the service decided in
/// [`DimseService::admit`]. Passed back on every request of the association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    facility_id: String,
    calling_ae: String,
    peer: SocketAddr,
}

impl Admission {
    /// An admission for the facility whose node called.
    pub fn new(
        facility_id: impl Into<String>,
        calling_ae: impl Into<String>,
        peer: SocketAddr,
    ) -> Self {
        Self {
            facility_id: facility_id.into(),
            calling_ae: calling_ae.into(),
            peer,
        }
    }

    /// The facility the calling AE belongs to.
    pub fn facility_id(&self) -> &str {
        &self.facility_id
    }

    /// The calling AE title, trimmed.
    pub fn calling_ae(&self) -> &str {
        &self.calling_ae
    }

    /// The peer's socket address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

/// Why an association is rejected (PS3.8 §9.3.4, A-ASSOCIATE-RJ reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The calling AE title is not one we know (permanent, service user).
    CallingAeNotRecognized,
    /// The called AE title is not ours (permanent, service user).
    CalledAeNotRecognized,
    /// Refused for a reason we do not tell the peer (permanent, service user).
    NoReasonGiven,
    /// Too busy right now; the peer may retry (transient, local limit exceeded).
    Busy,
}

/// One instance received by C-STORE.
#[derive(Debug)]
pub struct StoreRequest {
    /// Affected SOP Class UID from the C-STORE command.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID from the C-STORE command. Whether the data
    /// set carries the same UID is for the store to check (failure 0xA900).
    pub sop_instance_uid: String,
    /// The transfer syntax of the presentation context, which is the one
    /// the data set is encoded in.
    pub transfer_syntax: String,
    /// The instance as a Part 10 file.
    pub file: StagedFile,
}

/// A received instance as a DICOM Part 10 file: a 128-byte zero preamble,
/// `DICM`, a file meta group (Explicit VR Little Endian) built by us, then the
/// data set bytes exactly as they arrived in P-DATA.
///
/// The meta group holds Media Storage SOP Class/Instance UID (from the
/// command), Transfer Syntax UID (from the presentation context), Ferry's
/// Implementation Class UID and Source AE Title (the calling AE), so any
/// Part 10 reader, `dicom_object::open_file` included, reads the file as is.
///
/// An instance of up to 256 KiB (most CT, MR, X-ray and ECG objects) is
/// held in memory ([`take_bytes`](Self::take_bytes)); a larger one was streamed to a
/// file in [`DimseConfig::staging_dir`] as it arrived ([`path`](Self::path)),
/// which is deleted when this value is dropped unless
/// [`persist`](Self::persist) moved it.
#[derive(Debug)]
pub struct StagedFile {
    content: Content,
    dataset_offset: u64,
    len: u64,
}

#[derive(Debug)]
enum Content {
    Memory(Vec<u8>),
    Disk(tempfile::TempPath),
}

impl StagedFile {
    pub(crate) fn on_disk(path: tempfile::TempPath, dataset_offset: u64, len: u64) -> Self {
        Self {
            content: Content::Disk(path),
            dataset_offset,
            len,
        }
    }

    pub(crate) fn in_memory(bytes: Vec<u8>, dataset_offset: u64) -> Self {
        Self {
            len: bytes.len() as u64,
            content: Content::Memory(bytes),
            dataset_offset,
        }
    }

    /// The staging file, when the instance was large enough to need one.
    pub fn path(&self) -> Option<&Path> {
        match &self.content {
            Content::Disk(path) => Some(path),
            Content::Memory(_) => None,
        }
    }

    /// Takes the bytes held in memory, leaving none.
    pub fn take_bytes(&mut self) -> Option<Vec<u8>> {
        match &mut self.content {
            Content::Memory(bytes) => Some(std::mem::take(bytes)),
            Content::Disk(_) => None,
        }
    }

    /// Byte offset of the data set, just after the file meta group.
    pub fn dataset_offset(&self) -> u64 {
        self.dataset_offset
    }

    /// Size of the whole file in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (it never is: the meta group is always there).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the file at `to`: a rename for a staged file (so `to` should be
    /// on the same file system as the staging directory), a write for one
    /// held in memory.
    pub fn persist(self, to: impl AsRef<Path>) -> std::io::Result<PathBuf> {
        let to = to.as_ref().to_path_buf();
        match self.content {
            Content::Disk(path) => path.persist(&to).map_err(|e| e.error)?,
            Content::Memory(bytes) => std::fs::write(&to, bytes)?,
        }
        Ok(to)
    }
}

/// The result of [`DimseService::store`], mapped to a C-STORE status
/// (PS3.4 §B.2.3). Comments are sent to the peer as Error Comment: they must
/// not carry patient data and are cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored (0x0000).
    Stored,
    /// Stored, but some attributes were coerced (warning 0xB000).
    StoredWithCoercion,
    /// We already hold this SOP instance (0x0111).
    Duplicate,
    /// Out of resources, e.g. disk full (0xA700).
    OutOfResources(String),
    /// The data set does not match the SOP class or the command (0xA900).
    DataSetMismatch(String),
    /// The data set could not be understood (0xC000).
    CannotUnderstand(String),
    /// The calling facility may not store this instance (0x0124).
    NotAuthorized(String),
    /// The store failed for a reason of its own, e.g. its database (0x0110).
    ProcessingFailure(String),
}

impl StoreOutcome {
    /// The DIMSE status code sent in the C-STORE-RSP.
    pub fn status(&self) -> u16 {
        match self {
            Self::Stored => 0x0000,
            Self::StoredWithCoercion => 0xB000,
            Self::Duplicate => 0x0111,
            Self::OutOfResources(_) => 0xA700,
            Self::DataSetMismatch(_) => 0xA900,
            Self::CannotUnderstand(_) => 0xC000,
            Self::NotAuthorized(_) => 0x0124,
            Self::ProcessingFailure(_) => 0x0110,
        }
    }

    /// The Error Comment to send, if any.
    pub fn comment(&self) -> Option<&str> {
        match self {
            Self::Stored | Self::StoredWithCoercion | Self::Duplicate => None,
            Self::OutOfResources(c)
            | Self::DataSetMismatch(c)
            | Self::CannotUnderstand(c)
            | Self::NotAuthorized(c)
            | Self::ProcessingFailure(c) => Some(c),
        }
    }
}

/// One C-FIND request.
#[derive(Debug, Clone)]
pub struct FindRequest {
    /// Query/Retrieve Level (0008,0052) of the identifier.
    pub level: QueryLevel,
    /// The information model, from the presentation context's SOP class.
    pub model: QueryModel,
    /// The identifier as received: matching keys and return keys.
    pub identifier: InMemDicomObject,
}

/// Query/Retrieve Level (PS3.4 §C.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLevel {
    /// `PATIENT`
    Patient,
    /// `STUDY`
    Study,
    /// `SERIES`
    Series,
    /// `IMAGE` (instance level)
    Image,
}

impl QueryLevel {
    /// Parses the value of Query/Retrieve Level, ignoring padding.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim_matches([' ', '\0']) {
            "PATIENT" => Some(Self::Patient),
            "STUDY" => Some(Self::Study),
            "SERIES" => Some(Self::Series),
            "IMAGE" => Some(Self::Image),
            _ => None,
        }
    }

    /// The code string sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "PATIENT",
            Self::Study => "STUDY",
            Self::Series => "SERIES",
            Self::Image => "IMAGE",
        }
    }
}

/// One C-GET or C-MOVE request.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    /// Query/Retrieve Level of the identifier.
    pub level: QueryLevel,
    /// The information model, from the presentation context's SOP class.
    pub model: QueryModel,
    /// The identifier: the unique keys of what is to be sent.
    pub identifier: InMemDicomObject,
}

/// A stored instance to send as a C-STORE sub-operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// The transfer syntax it is stored in.
    pub transfer_syntax: String,
    /// The service's own name for it (a blob key).
    pub key: String,
}

/// A Modality Performed Procedure Step message.
#[derive(Debug, Clone)]
pub struct ProcedureStep {
    /// N-CREATE (the step began) or N-SET (it changed or ended).
    pub created: bool,
    /// The step's SOP Instance UID: Affected (N-CREATE) or Requested (N-SET).
    pub sop_instance_uid: String,
    /// The attributes sent.
    pub attributes: InMemDicomObject,
}

/// Why a procedure step message was refused: its DIMSE status and a comment
/// (the same rules as [`StoreOutcome`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// 0x0110 processing failure, 0x0111 duplicate instance, 0x0112 no such
    /// instance, 0x0106 invalid attribute value, 0x0120 missing attribute.
    pub status: u16,
    /// Sent as Error Comment.
    pub comment: String,
}

/// A C-MOVE destination: a storage SCP registered with Ferry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveDestination {
    /// Its AE title, the Called AE Title of the association Ferry opens.
    pub ae_title: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether it takes associations over DICOM TLS only.
    pub tls: bool,
}

/// Query/Retrieve information model of a C-FIND, C-GET or C-MOVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryModel {
    /// Study Root Query/Retrieve Information Model.
    StudyRoot,
    /// Patient Root Query/Retrieve Information Model.
    PatientRoot,
}

/// Why a C-FIND failed, mapped to a failure status (PS3.4 §C.4.1.1.4).
/// Comments follow the same rules as [`StoreOutcome`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindFailure {
    /// Out of resources (0xA700).
    OutOfResources(String),
    /// The identifier does not match the SOP class (0xA900).
    IdentifierMismatch(String),
    /// The query could not be processed (0xC000).
    UnableToProcess(String),
}

impl FindFailure {
    /// The DIMSE status code sent in the final C-FIND-RSP.
    pub fn status(&self) -> u16 {
        match self {
            Self::OutOfResources(_) => 0xA700,
            Self::IdentifierMismatch(_) => 0xA900,
            Self::UnableToProcess(_) => 0xC000,
        }
    }

    /// The Error Comment to send.
    pub fn comment(&self) -> &str {
        match self {
            Self::OutOfResources(c) | Self::IdentifierMismatch(c) | Self::UnableToProcess(c) => c,
        }
    }
}
