//! Settings, layered: embedded defaults, then `ferry.toml` (or `--config`), then
//! `FERRY_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_dicom_store::blob::S3Config;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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
            turn_ttl_seconds: 3600,
            recording_dir: None,
            recorder_udp: vec!["127.0.0.1:0".to_owned()],
            web_dir: None,
            duplicate_exam_window_days: 90,
            sharing_consent_required: true,
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
            s3_prefix: String::new(),
            http_max_connections: 1024,
            http_header_timeout_seconds: 30,
            http_body_timeout_seconds: 30,
            stow_body_timeout_seconds: 120,
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
        }
    }
}

/// Names this node accepts from the environment, used to warn about typos.
const KNOWN_KEYS: &[&str] = &[
    "LISTEN",
    "DATA_DIR",
    "DATABASE_URL",
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
    "TURN_TTL_SECONDS",
    "RECORDING_DIR",
    "RECORDER_UDP",
    "WEB_DIR",
    "DUPLICATE_EXAM_WINDOW_DAYS",
    "COOKIE_SECURE",
    "TLS_CERTIFICATE",
    "TLS_PRIVATE_KEY",
    "SHARING_CONSENT_REQUIRED",
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
    "S3_PREFIX",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
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
        figment
            .merge(Env::prefixed("FERRY_").only(&settings_keys))
            .extract()
            .map_err(Box::new)
    }

    /// `FERRY_*` variables that match no setting: most likely typos.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .filter_map(|(key, _)| key.strip_prefix("FERRY_").map(str::to_owned))
            .filter(|key| !key.starts_with("TEST_") && !KNOWN_KEYS.contains(&key.as_str()))
            .map(|key| format!("FERRY_{key}"))
            .collect()
    }

    /// The DIMSE listen address, or `None` when `dimse_listen` is `off`.
    pub fn dimse_listen_addr(&self) -> Result<Option<SocketAddr>, String> {
        let value = self.dimse_listen.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|_| {
            format!("dimse_listen: {value:?} is neither an address (host:port) nor \"off\"")
        })
    }

    /// The DICOM TLS listener: its address and TLS, or `None` when
    /// `dimse_tls_listen` is `off`.
    pub fn dimse_tls(
        &self,
    ) -> Result<Option<(SocketAddr, ferry_dicom_store::dimse::DimseTls)>, String> {
        let value = self.dimse_tls_listen.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let addr = value.parse().map_err(|_| {
            format!("dimse_tls_listen: {value:?} is neither an address (host:port) nor \"off\"")
        })?;
        let (Some(certificate), Some(key)) =
            (&self.dimse_tls_certificate, &self.dimse_tls_private_key)
        else {
            return Err(
                "dimse_tls_listen needs dimse_tls_certificate and dimse_tls_private_key".to_owned(),
            );
        };
        let tls = ferry_dicom_store::dimse::DimseTls::from_pem(
            certificate,
            key,
            self.dimse_tls_client_ca.as_deref(),
        )
        .map_err(|e| format!("DICOM TLS: {e}"))?;
        Ok(Some((addr, tls)))
    }

    /// The TLS of the web listener, or `None` when it speaks plain HTTP.
    pub fn web_tls(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
        match (&self.tls_certificate, &self.tls_private_key) {
            (None, None) => Ok(None),
            (Some(certificate), Some(key)) => crate::tls::acceptor(certificate, key)
                .map(Some)
                .map_err(|e| format!("HTTPS: {e}")),
            _ => Err(
                "tls_certificate and tls_private_key go together: set both or neither".to_owned(),
            ),
        }
    }

    /// The TLS of the associations Ferry opens, or `None` when
    /// `dimse_tls_trusted_ca` is unset (a TLS destination then fails with
    /// that reason).
    pub fn dimse_tls_client(
        &self,
    ) -> Result<Option<ferry_dicom_store::dimse::DimseTlsClient>, String> {
        let Some(ca) = &self.dimse_tls_trusted_ca else {
            return Ok(None);
        };
        let own = match (&self.dimse_tls_certificate, &self.dimse_tls_private_key) {
            (Some(certificate), Some(key)) => Some((certificate.as_path(), key.as_path())),
            _ => None,
        };
        ferry_dicom_store::dimse::DimseTlsClient::from_pem(ca, own)
            .map(Some)
            .map_err(|e| format!("DICOM TLS (dimse_tls_trusted_ca): {e}"))
    }

    /// Where call recordings go: `recording_dir`, or `recordings` in the
    /// data directory.
    pub fn recording_dir(&self) -> PathBuf {
        self.recording_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("recordings"))
    }

    /// The directory of the imaging store: `dicom_dir`, or `dicom` in the data
    /// directory.
    pub fn dicom_dir(&self) -> PathBuf {
        self.dicom_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dicom"))
    }

    /// The object storage for DICOM instances, when `s3_bucket` is set.
    pub fn s3(&self) -> Result<Option<S3Config>, String> {
        let Some(bucket) = self.s3_bucket.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if bucket.is_empty() {
            return Err("s3_bucket is set but empty".to_owned());
        }
        let (Some(access_key_id), Some(secret)) =
            (&self.s3_access_key_id, &self.s3_secret_access_key)
        else {
            return Err(
                "s3_bucket needs s3_access_key_id and s3_secret_access_key as well".to_owned(),
            );
        };
        Ok(Some(S3Config {
            bucket: bucket.to_owned(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret.expose_secret().to_owned(),
            prefix: self.s3_prefix.clone(),
        }))
    }

    /// Whether the session cookie is `Secure`: when asked for, and always
    /// when clients reach the server over HTTPS (`public_url`), so a TLS
    /// front end cannot be forgotten.
    pub fn secure_cookies(&self) -> bool {
        self.cookie_secure
            || self.tls_certificate.is_some()
            || self
                .public_url
                .as_deref()
                .is_some_and(|url| url.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// The origins of this server itself: `public_url`'s, when set, and the
    /// listen address's. A browser page may open a WebSocket only from these.
    pub fn own_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        if let Some(url) = self.public_url.as_deref() {
            let url = url.trim();
            let rest_at = url.find("://").map_or(0, |i| i + 3);
            let end = url[rest_at..].find('/').map_or(url.len(), |i| rest_at + i);
            origins.push(url[..end].to_ascii_lowercase());
        }
        let scheme = if self.tls_certificate.is_some() {
            "https"
        } else {
            "http"
        };
        origins.push(format!("{scheme}://{}", self.listen));
        if self.listen.ip().is_loopback() {
            origins.push(format!("{scheme}://localhost:{}", self.listen.port()));
        }
        origins
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
// figment's `Jail` closures must return its (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_8080_with_sqlite_in_the_data_dir() {
        let settings = Settings::default();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            settings.database_url(),
            "sqlite://ferry-data/ferry.db?mode=rwc"
        );
    }

    #[test]
    fn a_config_file_is_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ferry.toml",
                "listen = \"127.0.0.1:9000\"\nbreak_glass_minutes = 30\n",
            )?;
            jail.set_env("FERRY_LISTEN", "127.0.0.1:9100");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.listen.to_string(), "127.0.0.1:9100");
            assert_eq!(settings.break_glass_minutes, 30);
            Ok(())
        });
    }

    #[test]
    fn an_unknown_environment_variable_is_not_fatal() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FERRY_LISSEN", "127.0.0.1:9100");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
            assert!(Settings::unknown_env_vars().contains(&"FERRY_LISSEN".to_owned()));
            Ok(())
        });
    }

    #[test]
    fn dimse_listens_on_11112_by_default_and_can_be_switched_off() {
        let mut settings = Settings::default();
        assert_eq!(
            settings
                .dimse_listen_addr()
                .expect("valid")
                .map(|a| a.port()),
            Some(11112)
        );
        assert_eq!(settings.dicom_dir(), PathBuf::from("ferry-data/dicom"));
        settings.dimse_listen = "off".to_owned();
        assert_eq!(settings.dimse_listen_addr(), Ok(None));
        settings.dimse_listen = "nowhere".to_owned();
        assert!(settings.dimse_listen_addr().is_err());
    }

    #[test]
    fn cors_origins_come_from_the_environment_as_a_list() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "FERRY_DICOMWEB_CORS_ORIGINS",
                "[\"https://viewer.example\", \"http://localhost:3000\"]",
            );
            jail.set_env("FERRY_DIMSE_LISTEN", "off");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.dicomweb_cors_origins.len(), 2);
            assert_eq!(settings.dimse_listen_addr(), Ok(None));
            Ok(())
        });
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure_and_is_an_own_origin() {
        let mut settings = Settings::default();
        assert!(!settings.secure_cookies());
        assert_eq!(
            settings.own_origins(),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        settings.public_url = Some("HTTPS://Ferry.Example.org/base/".to_owned());
        assert!(settings.secure_cookies());
        assert_eq!(settings.own_origins()[0], "https://ferry.example.org");
        settings.public_url = Some("http://ferry.lan:8080".to_owned());
        assert!(!settings.secure_cookies());
        assert_eq!(settings.own_origins()[0], "http://ferry.lan:8080");
    }

    #[test]
    fn a_certificate_makes_the_listener_https_and_needs_its_key() {
        let mut settings = Settings::default();
        assert!(matches!(settings.web_tls(), Ok(None)));
        settings.tls_certificate = Some(PathBuf::from("/nonexistent/ferry.crt"));
        let alone = settings.web_tls().err().unwrap_or_default();
        assert!(alone.contains("set both or neither"), "{alone}");
        assert!(settings.secure_cookies());
        assert_eq!(
            settings.own_origins(),
            ["https://127.0.0.1:8080", "https://localhost:8080"]
        );
        settings.tls_private_key = Some(PathBuf::from("/nonexistent/ferry.key"));
        let missing = settings.web_tls().err().unwrap_or_default();
        assert!(missing.contains("/nonexistent/ferry.crt"), "{missing}");
    }

    #[test]
    fn every_setting_can_come_from_the_environment() {
        let value = serde_json::to_value(Settings::default()).unwrap_or_default();
        let keys = value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>());
        let keys = keys.unwrap_or_default();
        assert!(keys.len() > 40, "{keys:?}");
        for key in keys {
            let name = key.to_ascii_uppercase();
            assert!(
                KNOWN_KEYS.contains(&name.as_str()),
                "FERRY_{name} is not read from the environment"
            );
        }
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ferry.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }
}
