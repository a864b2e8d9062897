//! HTTPS on the web listener.
//!
//! A browser gives a page its camera and microphone only in a secure
//! context, so a consortium's clinics reach Ferry over HTTPS: through a
//! front end that terminates TLS, or here, with `tls_certificate`. Over
//! TLS the browsers speak HTTP/2, one connection on which every request
//! goes at once, where HTTP/1.1 gives a page six and a round trip per
//! request on each: on an island link of 400 ms that is most of a first
//! load (BENCHMARKS.md, "Island link").

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The acceptor for `certificate` (a PEM chain, ours first) and its key,
/// offering HTTP/2 first and HTTP/1.1 by ALPN. WebSockets go over
/// HTTP/1.1: a browser opens a connection of its own for them when the
/// HTTP/2 one does not offer extended CONNECT.
pub fn acceptor(certificate: &Path, private_key: &Path) -> Result<TlsAcceptor, String> {
    let (chain, key) = ferry_dicom_store::dimse::tls::identity(certificate, private_key)?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
