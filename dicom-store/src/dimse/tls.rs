//! DICOM TLS (PS3.15 Annex B, the BCP 195 profiles): the listener's side.
//! Ferry presents its certificate; with a client CA configured it also
//! demands a certificate from every caller and checks it against that CA,
//! as the Basic TLS Secure Transport Connection Profile has both ends do.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
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
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
            .map_err(|e| format!("{}: {e}", certificate.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", certificate.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: no certificate", certificate.display()));
        }
        let key = PrivateKeyDer::from_pem_file(private_key)
            .map_err(|e| format!("{}: {e}", private_key.display()))?;
        let builder = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .map_err(|e| format!("{}: {e}", ca.display()))?
                {
                    let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", ca.display()))?;
                }
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
