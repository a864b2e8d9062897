//! DICOM TLS (PS3.15 Annex B, the BCP 195 profiles).
//!
//! The listener's side, [`DimseTls`]: Ferry presents its certificate; with
//! a client CA configured it also demands a certificate from every caller
//! and checks it against that CA, as the Basic TLS Secure Transport
//! Connection Profile has both ends do.
//!
//! The calling side, [`DimseTlsClient`]: for the associations Ferry opens
//! (C-MOVE sub-operations, forwarding) to a destination that takes TLS.
//! The destination's certificate must chain to a configured CA, and Ferry
//! presents its own certificate when it has one, since a PACS holding to
//! the profile asks for it.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The listener's TLS: what [`super::DimseConfig::tls`] holds.
#[derive(Clone)]
pub struct DimseTls(pub(crate) TlsAcceptor);

impl std::fmt::Debug for DimseTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DimseTls")
    }
}

impl DimseTls {
    /// From PEM files: the certificate chain (ours first), its private key,
    /// and, to require client certificates, the CA that issues them.
    pub fn from_pem(
        certificate: &Path,
        private_key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, String> {
        let (chain, key) = identity(certificate, private_key)?;
        let builder = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let roots = roots(ca)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()),
                )
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
        Ok(Self(TlsAcceptor::from(Arc::new(config))))
    }
}

/// The calling side's TLS: what [`super::DimseConfig::tls_client`] holds
/// and [`super::scu::StoreScu::connect`] takes.
#[derive(Clone)]
pub struct DimseTlsClient(pub(crate) Arc<ClientConfig>);

impl std::fmt::Debug for DimseTlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DimseTlsClient")
    }
}

impl DimseTlsClient {
    /// From PEM files: the CA certificates destinations' certificates
    /// must chain to, and optionally Ferry's own certificate chain and key
    /// to present.
    pub fn from_pem(trusted_ca: &Path, own: Option<(&Path, &Path)>) -> Result<Self, String> {
        let builder = ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(trusted_ca)?);
        let config = match own {
            None => builder.with_no_client_auth(),
            Some((certificate, private_key)) => {
                let (chain, key) = identity(certificate, private_key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the certificate and key do not go together: {e}"))?
            }
        };
        Ok(Self(Arc::new(config)))
    }
}

/// The CA certificates in a PEM file.
fn roots(ca: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", ca.display()));
    }
    Ok(roots)
}

/// A certificate chain (ours first) and its private key, from PEM files:
/// what a TLS listener presents (this one's, and the web listener's).
pub fn identity(
    certificate: &Path,
    private_key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| format!("{}: {e}", certificate.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| format!("{}: {e}", private_key.display()))?;
    Ok((chain, key))
}
