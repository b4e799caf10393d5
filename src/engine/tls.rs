//! TLS for PostgreSQL connections with libpq's `sslmode` values and `sslrootcert`, on rustls.
//! tokio-postgres itself knows only disable/prefer/require and no root certificate, so these two
//! options are taken out of the connection string here and turned into a verifier.

use super::secret::libpq_value;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        match text {
            "disable" => Ok(SslMode::Disable),
            "allow" | "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// libpq's default, `~/.postgresql/root.crt`.
    Default,
    /// The operating system's trust store (`sslrootcert=system`).
    System,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// Given explicitly (libpq's `require` then verifies the chain, like `verify-ca`).
    pub root_cert: Option<RootCert>,
}

/// Takes `sslmode` and `sslrootcert` out of a URL or key=value connection string.
pub fn split_tls_options(conninfo: &str) -> Result<(String, TlsSettings), String> {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => {
                mode = Some(SslMode::parse(&value)?);
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(PathBuf::from(value))
                });
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let trimmed = conninfo.trim();
    let cleaned = if trimmed.contains("://") {
        match trimmed.split_once('?') {
            None => trimmed.to_string(),
            Some((base, query)) => {
                let mut kept = vec![];
                for param in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = param.split_once('=').unwrap_or((param, ""));
                    if !take(k, percent_decode(v))? {
                        kept.push(param);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = vec![];
        for (k, raw, v) in key_values(trimmed) {
            if !take(&k, v)? {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    Ok((
        cleaned,
        TlsSettings {
            mode: mode.unwrap_or(SslMode::Prefer),
            root_cert: root,
        },
    ))
}

/// `key = value` pairs of a libpq string: (key, the pair as written, unquoted value).
fn key_values(text: &str) -> Vec<(String, String, String)> {
    let mut out = vec![];
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let (value, used) = libpq_value(after);
        let consumed = rest.len() - after.len() + used.min(after.len());
        out.push((key, rest[..consumed].trim().to_string(), value));
        rest = rest[consumed..].trim_start();
    }
    out
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(high * 16 + low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What tokio-postgres should do on the wire, and the connector that enforces the rest.
pub fn connector(settings: &TlsSettings) -> Result<(WireMode, MakeRustlsConnect), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verify_chain = matches!(settings.mode, SslMode::VerifyCa | SslMode::VerifyFull)
        || (settings.mode == SslMode::Require && settings.root_cert.is_some());
    let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
        let roots = load_roots(settings.root_cert.as_ref().unwrap_or(&RootCert::Default))?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("cannot use the root certificates: {e}"))?;
        Arc::new(ChainVerifier {
            inner: webpki,
            check_name: settings.mode == SslMode::VerifyFull,
        })
    } else {
        Arc::new(EncryptOnly {
            provider: provider.clone(),
        })
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let wire = match settings.mode {
        SslMode::Disable => WireMode::Disable,
        SslMode::Prefer => WireMode::Prefer,
        _ => WireMode::Require,
    };
    Ok((wire, MakeRustlsConnect::new(config)))
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
        RootCert::Default | RootCert::File(_) => {
            let path = match root {
                RootCert::File(p) => p.clone(),
                _ => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
                    .unwrap_or_else(|| PathBuf::from(".postgresql/root.crt")),
            };
            let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
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
    fn tls_options_are_taken_out_of_urls() {
        let (rest, tls) = split_tls_options(
            "postgresql://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(rest, "postgresql://u:p@h:5432/db?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(RootCert::File("/tmp/ca.pem".into())));
        let (rest, tls) = split_tls_options("postgresql://h/db").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgresql://h/db", SslMode::Prefer)
        );
    }

    #[test]
    fn tls_options_are_taken_out_of_key_values() {
        let (rest, tls) =
            split_tls_options("host=h sslmode = 'verify-ca' password='a b' sslrootcert=system")
                .unwrap();
        assert_eq!(rest, "host=h password='a b'");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(RootCert::System));
    }

    #[test]
    fn bad_sslmode_says_what_is_expected() {
        let e = split_tls_options("postgresql://h/db?sslmode=always").unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_missing_root_certificate_says_how_to_fix_it() {
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File("/nonexistent/ca.pem".into())),
        };
        let e = connector(&settings).err().unwrap();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("sslrootcert="),
            "{e}"
        );
    }
}
