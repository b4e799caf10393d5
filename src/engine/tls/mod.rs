//! TLS for PostgreSQL connections as libpq sets it up, on rustls: `sslmode`, root certificates,
//! revocation lists, client certificates (encrypted keys too), SNI and protocol versions.
//! tokio-postgres itself knows only disable/prefer/require, so the rest is built here.

mod client;
mod settings;
mod witness;

pub use settings::{CertMode, RootCert, SslMode, TlsSettings, TlsVersion};
pub use witness::CertificateExchange;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The TLS side of an endpoint's connections: one shared connector, or with
/// `sslcertmode=require` one per connection, each with its own witness of the handshake.
#[derive(Clone)]
pub struct Connector {
    shared: MakeRustlsConnect,
    /// With `sslcertmode=require`: the configuration each connection's connector is made from,
    /// and the certificate its witness offers.
    witnessed: Option<(Arc<rustls::ClientConfig>, Option<Arc<CertifiedKey>>)>,
}

impl Connector {
    /// The connector for one connection, and what its handshake will show.
    pub fn for_connection(&self) -> (MakeRustlsConnect, CertificateExchange) {
        let Some((config, certificate)) = &self.witnessed else {
            return (self.shared.clone(), CertificateExchange::default());
        };
        let witness = Arc::new(witness::Witness::new(certificate.clone()));
        let mut config = rustls::ClientConfig::clone(config);
        config.client_auth_cert_resolver = witness.clone();
        // A resumed TLS 1.3 session carries no CertificateRequest; PostgreSQL servers do not
        // resume sessions, and with nothing resumed every handshake is judged afresh.
        config.resumption = rustls::client::Resumption::disabled();
        (
            MakeRustlsConnect::new(config),
            CertificateExchange(Some(witness)),
        )
    }
}

/// What tokio-postgres should do on the wire, and the connector that enforces the rest.
pub fn connector(settings: &TlsSettings) -> Result<(WireMode, Connector), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match settings.roots_to_verify() {
        Some(root) => {
            let roots = load_roots(&root)?;
            let crls = client::revocation_lists(settings)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .with_crls(crls)
                    .build()
                    .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            Arc::new(ChainVerifier {
                inner: webpki,
                check_name: settings.mode == SslMode::VerifyFull,
            })
        }
        None => Arc::new(EncryptOnly {
            provider: provider.clone(),
        }),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(settings)?)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let certificate = match client::certificate(settings)? {
        Some((chain, key)) => {
            let signer = provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| format!("cannot use the client key: {e}"))?;
            // Not `with_client_auth_cert`: it parses the certificate, and rejects the X.509 v1
            // certificates PostgreSQL's own documentation shows how to make. The server judges
            // the certificate, as it does for libpq.
            Some(Arc::new(CertifiedKey::new(chain, signer)))
        }
        None => None,
    };
    let mut config = match &certificate {
        Some(certified) => builder.with_client_cert_resolver(Arc::new(
            rustls::sign::SingleCertAndKey::from(CertifiedKey::clone(certified)),
        )),
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = settings.sni;
    if settings.direct {
        // A server taking TLS directly checks that the client asked for PostgreSQL by ALPN.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    let wire = match settings.mode {
        SslMode::Disable => WireMode::Disable,
        SslMode::Allow | SslMode::Prefer => WireMode::Prefer,
        _ => WireMode::Require,
    };
    let witnessed =
        (settings.cert_mode == CertMode::Require).then(|| (Arc::new(config.clone()), certificate));
    Ok((
        wire,
        Connector {
            shared: MakeRustlsConnect::new(config),
            witnessed,
        },
    ))
}

/// rustls speaks TLS 1.2 and 1.3; a lower minimum than 1.2 is met by 1.2, a maximum below it
/// cannot be.
fn protocol_versions(
    settings: &TlsSettings,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let max = settings.max_version.unwrap_or(TlsVersion::V1_3);
    if max < settings.min_version {
        return Err("invalid SSL protocol version range: ssl_min_protocol_version is above ssl_max_protocol_version".into());
    }
    if max < TlsVersion::V1_2 {
        return Err("ssl_max_protocol_version below TLSv1.2 is not supported: seqsync speaks TLSv1.2 and TLSv1.3".into());
    }
    let mut versions = vec![];
    if settings.min_version <= TlsVersion::V1_2 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::V1_3 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(versions)
}

fn load_roots(root: &RootCert) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(
                    "sslrootcert=system: no trusted certificates found on this system".into(),
                );
            }
        }
        RootCert::File(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                format!(
                    "cannot read the root certificate {}: {e}; set sslrootcert=/path/to/ca.pem (or sslrootcert=system)",
                    path.display()
                )
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if store.is_empty() {
                return Err(format!("{} holds no certificate", path.display()));
            }
        }
    }
    Ok(store)
}

/// verify-ca and verify-full: the chain must lead to a trusted root; verify-full also checks
/// that the certificate names the host.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// prefer and require (without a root certificate): encrypted, the certificate not checked,
/// exactly as libpq does. The handshake signatures are still verified.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_root_certificate_says_how_to_fix_it() {
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File("/nonexistent/ca.pem".into())),
            ..TlsSettings::default()
        };
        let e = connector(&settings).err().unwrap();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("sslrootcert="),
            "{e}"
        );
    }
}
