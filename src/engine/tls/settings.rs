//! libpq's TLS settings as seqsync holds them.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Without TLS first; with TLS only if the server refuses the plain session.
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// The operating system's trust store (`sslrootcert=system`).
    System,
    File(PathBuf),
}

/// libpq's `sslcertmode`: whether the client certificate is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertMode {
    Disable,
    Allow,
    /// The server must ask for a certificate and get one: a session that ends up authenticated
    /// without one is closed before it is used.
    Require,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
}

#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// Given explicitly; else `~/.postgresql/root.crt` when it exists.
    pub root_cert: Option<RootCert>,
    /// Given explicitly; else `~/.postgresql/postgresql.crt` when it exists.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The passphrase of an encrypted client key.
    pub key_password: Option<String>,
    pub cert_mode: CertMode,
    pub crl: Option<PathBuf>,
    pub crl_dir: Option<PathBuf>,
    pub sni: bool,
    pub min_version: TlsVersion,
    pub max_version: Option<TlsVersion>,
    /// `sslnegotiation=direct`: TLS at once, without PostgreSQL's SSLRequest.
    pub direct: bool,
    /// Where libpq's default files live (`~/.postgresql/`).
    pub home: Option<PathBuf>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("root_cert", &self.root_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish_non_exhaustive()
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: SslMode::Prefer,
            root_cert: None,
            client_cert: None,
            client_key: None,
            key_password: None,
            cert_mode: CertMode::Allow,
            crl: None,
            crl_dir: None,
            sni: true,
            min_version: TlsVersion::V1_2,
            max_version: None,
            direct: false,
            home: None,
        }
    }
}

impl TlsSettings {
    /// A file under `~/.postgresql/`, libpq's home for default certificates.
    pub(super) fn default_file(&self, name: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(".postgresql").join(name))
    }

    /// The root certificates to verify with, if the chain is verified at all: always for
    /// verify-ca and verify-full; for require when a root certificate is given or
    /// `~/.postgresql/root.crt` exists (libpq's compatibility rule).
    pub(super) fn roots_to_verify(&self) -> Option<RootCert> {
        let default = || {
            self.default_file("root.crt")
                .unwrap_or_else(|| PathBuf::from(".postgresql/root.crt"))
        };
        match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => Some(
                self.root_cert
                    .clone()
                    .unwrap_or_else(|| RootCert::File(default())),
            ),
            SslMode::Require => self
                .root_cert
                .clone()
                .or_else(|| Some(RootCert::File(default())).filter(|_| default().exists())),
            _ => None,
        }
    }
}
