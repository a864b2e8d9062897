//! What the settings derive: listeners and their TLS, the object store, the
//! places files go, the origins a browser may come from.

use std::net::SocketAddr;
use std::path::PathBuf;

use ferry_dicom_store::blob::S3Config;
use secrecy::ExposeSecret;

use super::Settings;

impl Settings {
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
}
