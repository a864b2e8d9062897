//! Settings, layered: embedded defaults, then `ferry.toml` (or `--config`), then
//! `FERRY_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub mod check;
mod derived;
mod secrets;

/// Every setting of a Ferry node. Field names are the keys of `ferry.toml`; the
/// environment variable is the name in upper case behind `FERRY_`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address of the HTTP listener.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and, later, stored files.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means `ferry.db` in `data_dir`.
    /// Kept secret because it may carry a password.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// A file holding `database_url` (a container or systemd secret), in
    /// its place.
    pub database_url_file: Option<PathBuf>,
    /// Connections in the database pool.
    pub database_max_connections: u32,
    /// How long a sign-in stays valid.
    pub session_ttl_minutes: u64,
    /// Failed sign-ins for one name, within `login_lockout_seconds`, before that
    /// name is locked out for `login_lockout_seconds`.
    pub login_max_failures: u32,
    pub login_lockout_seconds: u64,
    /// How long an emergency (break-the-glass) access lasts.
    pub break_glass_minutes: u64,
    /// Largest accepted JSON request body.
    pub max_body_bytes: usize,
    /// How long a held slot stays reserved while the booking is filled in.
    pub hold_minutes: u64,
    /// How far ahead free slots are generated from the rosters.
    pub slot_horizon_days: u32,
    /// An emergency nobody on call has accepted after this long is escalated
    /// to the schedulers.
    pub emergency_escalation_seconds: u64,
    /// Target turnaround of a reading request, from request to signed final
    /// report, by priority: the worklist counts down against these.
    pub reading_target_stat_minutes: u64,
    pub reading_target_urgent_minutes: u64,
    pub reading_target_routine_minutes: u64,
    /// A critical result its requester has not acknowledged after this long
    /// is sent to the other clinicians of the requesting facility.
    pub critical_escalation_seconds: u64,
    /// How long before a booked slot its participants may join the call.
    pub call_open_minutes_before: u64,
    /// STUN servers handed to clients, e.g. `stun:turn.example.org:3478`.
    pub stun_urls: Vec<String>,
    /// TURN servers handed to clients with time-limited credentials, e.g.
    /// `turn:turn.example.org:3478?transport=udp`, `turns:turn.example.org:443?transport=tcp`.
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (coturn: `static-auth-secret`
    /// with `use-auth-secret`). Unset: no TURN entries are handed out.
    #[serde(skip_serializing)]
    pub turn_secret: Option<SecretString>,
    /// A file holding `turn_secret`, in its place.
    pub turn_secret_file: Option<PathBuf>,
    /// How long minted TURN credentials stay valid.
    pub turn_ttl_seconds: u64,
    /// Where call recordings are kept; unset means `recordings` in `data_dir`.
    pub recording_dir: Option<PathBuf>,
    /// UDP addresses the recorder's WebRTC peer gathers candidates on: an
    /// address the participants' browsers can reach (port 0 for any port).
    pub recorder_udp: Vec<String>,
    /// Serve the web client from this directory instead of the copy built
    /// into the binary, so a change to the client shows on reload.
    pub web_dir: Option<PathBuf>,
    /// An examination of the same modality and body part within this many days
    /// counts as a duplicate.
    pub duplicate_exam_window_days: u32,
    /// Whether members read each other's records about a patient only with
    /// the patient's consent to sharing on record. A consortium whose rules
    /// make sharing among the facilities caring for a patient lawful
    /// without consent turns this off.
    pub sharing_consent_required: bool,
    /// Whether a teleconsultation waits for the patient's consents: its call
    /// admits no one, and it does not start, until a clinician of the
    /// requesting facility has recorded the consent to it; and the call is
    /// recorded only while the patient's consent to recording is in force
    /// too, besides every participant's. Off by default, so
    /// that consortia whose consultations were booked before consents were
    /// recorded here keep their calls; a consortium whose rules ask for the
    /// signed form first (远程医疗知情同意) turns it on.
    pub teleconsultation_consent_required: bool,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// PEM file: the certificate chain (this server's first) with which
    /// `listen` speaks HTTPS, HTTP/2 and HTTP/1.1 by ALPN. Unset, `listen`
    /// speaks plain HTTP/1.1, for a TLS front end (or loopback) to use.
    pub tls_certificate: Option<PathBuf>,
    /// PEM file: the private key of `tls_certificate`.
    pub tls_private_key: Option<PathBuf>,
    /// `tracing` filter, e.g. `info` or `ferry_server=debug,info`.
    pub log: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Address of the DIMSE listener (C-ECHO, C-STORE, C-FIND), or `off` for
    /// none. A string rather than an address so that `off` fits in the same
    /// key and environment variable; checked by [`Settings::dimse_listen_addr`].
    pub dimse_listen: String,
    /// Our AE title: associations calling any other title are rejected.
    pub dimse_ae_title: String,
    /// Where DICOM instances are kept (with their staging directory under it);
    /// unset means `dicom` in `data_dir`.
    pub dicom_dir: Option<PathBuf>,
    /// The most bytes one STOW-RS request may carry. STOW streams to disk, so
    /// this is not bounded by `max_body_bytes`.
    pub stow_max_bytes: u64,
    /// The most instances one STOW-RS request may carry (its parts).
    pub stow_max_parts: usize,
    /// Origins allowed to call `/dicomweb` from a browser (a web viewer on
    /// another origin). Empty means no CORS headers at all.
    pub dicomweb_cors_origins: Vec<String>,
    /// How clients reach this server, e.g. `https://ferry.example.org`, for
    /// the absolute URLs DICOMweb answers carry (bulk data, retrieve URLs).
    /// Unset: taken from each request's `Host` header.
    pub public_url: Option<String>,
    /// When set, DICOM instances are kept in this S3 bucket (which must exist)
    /// instead of under `dicom_dir`; staging stays local, in `dicom_dir`.
    pub s3_bucket: Option<String>,
    /// The endpoint of an S3-compatible service (`http://127.0.0.1:9000`);
    /// unset for AWS itself.
    pub s3_endpoint: Option<String>,
    /// The bucket's region; most S3-compatible services accept any.
    pub s3_region: String,
    /// Access key id for the bucket.
    pub s3_access_key_id: Option<String>,
    /// Secret access key for the bucket.
    #[serde(skip_serializing)]
    pub s3_secret_access_key: Option<SecretString>,
    /// A file holding `s3_secret_access_key`, in its place.
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// A prefix for every object key, so one bucket can serve several consortia.
    pub s3_prefix: String,
    /// HTTP connections served at once; more wait unaccepted (see `serve`).
    pub http_max_connections: usize,
    /// How long a request's head may take to arrive, counted from when the
    /// connection is ready for it: so also how long a keep-alive connection
    /// may wait idle for its next request.
    pub http_header_timeout_seconds: u64,
    /// The longest pause between two pieces of a request body.
    pub http_body_timeout_seconds: u64,
    /// The same for STOW-RS uploads, which cross slow links with stalls.
    pub stow_body_timeout_seconds: u64,
    /// How long a request may take to be answered (its response to start).
    /// STOW-RS, event streams and call WebSockets have none: their pauses
    /// are bounded instead (the body and idle timeouts).
    pub http_request_timeout_seconds: u64,
    /// The same for retrieving a whole study or series (WADO-RS), which
    /// gathers many instances before it answers.
    pub http_long_request_timeout_seconds: u64,
    /// A connection on which nothing is read or written for this long is
    /// closed (SSE and call WebSockets send heartbeats well within it).
    pub http_idle_timeout_seconds: u64,
    /// DIMSE associations at once; more are refused as transiently busy.
    pub dimse_max_associations: usize,
    /// DIMSE associations at once from one calling AE title, unless its
    /// modality is registered with a limit of its own.
    pub dimse_max_associations_per_ae: u32,
    /// How long a DIMSE association may stay silent before it is aborted.
    pub dimse_idle_timeout_seconds: u64,
    /// A second DIMSE listener speaking DICOM TLS (conventionally port
    /// 2762), or `off`. Needs `dimse_tls_certificate` and
    /// `dimse_tls_private_key`.
    pub dimse_tls_listen: String,
    /// PEM file: the TLS certificate chain, this node's first.
    pub dimse_tls_certificate: Option<PathBuf>,
    /// PEM file: its private key.
    pub dimse_tls_private_key: Option<PathBuf>,
    /// PEM file: the CA that issues modalities' certificates. Set, every
    /// TLS caller must present one it issued.
    pub dimse_tls_client_ca: Option<PathBuf>,
    /// PEM file: the CAs that issue the certificates of destinations
    /// taking DICOM TLS only (C-MOVE and forwarding). Ferry presents
    /// `dimse_tls_certificate` to them when it is set.
    pub dimse_tls_trusted_ca: Option<PathBuf>,
    /// A study received this recently may be deleted by an administrator
    /// (images sent by mistake), unless it is part of the record.
    pub study_deletion_window_hours: u64,
    /// After the window, a study is kept this long after it was received
    /// (China keeps inpatient records 30 years, outpatient 15).
    pub imaging_retention_years: u64,
    /// Whether this node sends the forwarding outbox. Off on a node that
    /// should only answer users; at least one node must have it on.
    pub forwarding: bool,
    /// How long a node holds the outbox rows it is sending; a node that
    /// dies holding some leaves them to the others after this.
    pub forwarding_lease_seconds: u64,
    /// The bearer token Prometheus sends for `/metrics`. Unset: `/metrics`
    /// is refused, since its figures describe the consortium's activity.
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// A file holding `metrics_token`, in its place.
    pub metrics_token_file: Option<PathBuf>,
    /// Reads leave no audit event. Only `ferry-bench` sets it, to measure
    /// what the trail costs beside the same reads without it: no key of the
    /// file or the environment reaches it (a key of this name is refused as
    /// unknown).
    #[serde(skip)]
    pub unaudited_reads: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ferry-data"),
            database_url: None,
            database_url_file: None,
            database_max_connections: 8,
            session_ttl_minutes: 12 * 60,
            login_max_failures: 5,
            login_lockout_seconds: 15 * 60,
            break_glass_minutes: 60,
            max_body_bytes: 1024 * 1024,
            hold_minutes: 10,
            slot_horizon_days: 84,
            emergency_escalation_seconds: 15 * 60,
            reading_target_stat_minutes: 60,
            reading_target_urgent_minutes: 4 * 60,
            reading_target_routine_minutes: 24 * 60,
            critical_escalation_seconds: 30 * 60,
            call_open_minutes_before: 15,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_secret_file: None,
            turn_ttl_seconds: 3600,
            recording_dir: None,
            recorder_udp: vec!["127.0.0.1:0".to_owned()],
            web_dir: None,
            duplicate_exam_window_days: 90,
            sharing_consent_required: true,
            teleconsultation_consent_required: false,
            cookie_secure: false,
            tls_certificate: None,
            tls_private_key: None,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            dimse_listen: "127.0.0.1:11112".to_owned(),
            dimse_ae_title: "FERRY".to_owned(),
            dicom_dir: None,
            stow_max_bytes: 4 << 30,
            stow_max_parts: ferry_dicom_store::DEFAULT_MAX_PARTS,
            dicomweb_cors_origins: Vec::new(),
            public_url: None,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_secret_access_key_file: None,
            s3_prefix: String::new(),
            http_max_connections: 1024,
            http_header_timeout_seconds: 30,
            http_body_timeout_seconds: 30,
            stow_body_timeout_seconds: 120,
            http_request_timeout_seconds: 60,
            http_long_request_timeout_seconds: 600,
            http_idle_timeout_seconds: 300,
            dimse_max_associations: 64,
            dimse_max_associations_per_ae: 8,
            dimse_idle_timeout_seconds: 120,
            dimse_tls_listen: "off".to_owned(),
            dimse_tls_certificate: None,
            dimse_tls_private_key: None,
            dimse_tls_client_ca: None,
            dimse_tls_trusted_ca: None,
            study_deletion_window_hours: 72,
            imaging_retention_years: 30,
            forwarding: true,
            forwarding_lease_seconds: 120,
            metrics_token: None,
            metrics_token_file: None,
            unaudited_reads: false,
        }
    }
}

/// Names this node accepts from the environment, used to warn about typos.
const KNOWN_KEYS: &[&str] = &[
    "LISTEN",
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "DATABASE_MAX_CONNECTIONS",
    "SESSION_TTL_MINUTES",
    "LOGIN_MAX_FAILURES",
    "LOGIN_LOCKOUT_SECONDS",
    "BREAK_GLASS_MINUTES",
    "MAX_BODY_BYTES",
    "HOLD_MINUTES",
    "SLOT_HORIZON_DAYS",
    "EMERGENCY_ESCALATION_SECONDS",
    "READING_TARGET_STAT_MINUTES",
    "READING_TARGET_URGENT_MINUTES",
    "READING_TARGET_ROUTINE_MINUTES",
    "CRITICAL_ESCALATION_SECONDS",
    "CALL_OPEN_MINUTES_BEFORE",
    "STUN_URLS",
    "TURN_URLS",
    "TURN_SECRET",
    "TURN_SECRET_FILE",
    "TURN_TTL_SECONDS",
    "RECORDING_DIR",
    "RECORDER_UDP",
    "WEB_DIR",
    "DUPLICATE_EXAM_WINDOW_DAYS",
    "COOKIE_SECURE",
    "TLS_CERTIFICATE",
    "TLS_PRIVATE_KEY",
    "SHARING_CONSENT_REQUIRED",
    "TELECONSULTATION_CONSENT_REQUIRED",
    "LOG",
    "LOG_FORMAT",
    "DIMSE_LISTEN",
    "DIMSE_AE_TITLE",
    "DICOM_DIR",
    "STOW_MAX_BYTES",
    "STOW_MAX_PARTS",
    "DICOMWEB_CORS_ORIGINS",
    "PUBLIC_URL",
    "S3_BUCKET",
    "S3_ENDPOINT",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_SECRET_ACCESS_KEY_FILE",
    "S3_PREFIX",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "HTTP_REQUEST_TIMEOUT_SECONDS",
    "HTTP_LONG_REQUEST_TIMEOUT_SECONDS",
    "STOW_BODY_TIMEOUT_SECONDS",
    "HTTP_IDLE_TIMEOUT_SECONDS",
    "DIMSE_MAX_ASSOCIATIONS",
    "DIMSE_MAX_ASSOCIATIONS_PER_AE",
    "DIMSE_IDLE_TIMEOUT_SECONDS",
    "DIMSE_TLS_LISTEN",
    "DIMSE_TLS_CERTIFICATE",
    "DIMSE_TLS_PRIVATE_KEY",
    "DIMSE_TLS_CLIENT_CA",
    "DIMSE_TLS_TRUSTED_CA",
    "STUDY_DELETION_WINDOW_HOURS",
    "IMAGING_RETENTION_YEARS",
    "FORWARDING",
    "FORWARDING_LEASE_SECONDS",
    "METRICS_TOKEN",
    "METRICS_TOKEN_FILE",
    "CONFIG",
];

impl Settings {
    /// How long before its booked slot a consultation's call opens, in ms.
    pub fn call_open_before_ms(&self) -> i64 {
        i64::try_from(self.call_open_minutes_before)
            .unwrap_or(i64::MAX)
            .saturating_mul(60_000)
    }

    /// Loads the layers. `config_file` defaults to `ferry.toml` in the working
    /// directory; a missing default file is fine, a missing named one is not.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) => {
                if !path.exists() {
                    return Err(Box::new(figment::Error::from(format!(
                        "configuration file {} does not exist",
                        path.display()
                    ))));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => figment = figment.merge(Toml::file("ferry.toml")),
        }
        // Only known names: an unknown FERRY_ variable is warned about (see
        // `unknown_env_vars`), not fatal, while an unknown key in the file is.
        let settings_keys: Vec<&str> = KNOWN_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "CONFIG")
            .collect();
        let mut settings: Settings = figment
            .merge(Env::prefixed("FERRY_").only(&settings_keys))
            .extract()
            .map_err(Box::new)?;
        settings
            .read_secret_files()
            .map_err(|problem| Box::new(figment::Error::from(problem)))?;
        Ok(settings)
    }

    /// `FERRY_*` variables that match no setting: most likely typos.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .filter_map(|(key, _)| key.strip_prefix("FERRY_").map(str::to_owned))
            .filter(|key| !key.starts_with("TEST_") && !KNOWN_KEYS.contains(&key.as_str()))
            .map(|key| format!("FERRY_{key}"))
            .collect()
    }

    /// The database URL in force: the configured one, or the SQLite file in the
    /// data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ferry.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests;
