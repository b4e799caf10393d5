//! The merged keywords as typed settings, checked as libpq checks them, with libpq's defaults.

use super::environment::Environment;
use super::merge::{Merged, Origin};
use crate::engine::tls::{CertMode, RootCert, SslMode, TlsSettings, TlsVersion};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the default Unix socket is looked for when no host is given: Debian's and Red Hat's
/// libpq use the first, upstream's builds the second.
pub const SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

/// How one host of the list is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A host name (or address); `hostaddr` skips the name lookup, the name still checks TLS.
    Tcp {
        host: String,
        hostaddr: Option<IpAddr>,
    },
    /// Only `hostaddr`.
    Address(IpAddr),
    /// A Unix socket directory.
    Socket(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub route: Route,
    pub port: u16,
}

impl HostEntry {
    /// The host as `.pgpass` matches it: libpq's `localhost` for the default socket directory.
    pub fn pgpass_host(&self) -> String {
        match &self.route {
            Route::Tcp { host, .. } => host.clone(),
            Route::Address(ip) => ip.to_string(),
            Route::Socket(dir) if SOCKET_DIRS.iter().any(|d| dir == &PathBuf::from(d)) => {
                "localhost".to_string()
            }
            Route::Socket(dir) => dir.display().to_string(),
        }
    }

    /// As an operator checks it: `host:port`, `[v6]:port`, or the socket file.
    pub fn describe(&self) -> String {
        match &self.route {
            Route::Tcp { host, .. } if host.contains(':') => format!("[{host}]:{}", self.port),
            Route::Tcp { host, .. } => format!("{host}:{}", self.port),
            Route::Address(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            Route::Address(ip) => format!("{ip}:{}", self.port),
            Route::Socket(dir) => format!("{}/.s.PGSQL.{}", dir.display(), self.port),
        }
    }
}

/// libpq's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    Prefer,
    Require,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<HostEntry>,
    pub dbname: String,
    pub user: String,
    /// From the string, the service file or `PGPASSWORD`, with where it came from.
    pub password: Option<(String, Origin)>,
    pub passfile: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub options: Option<String>,
    /// The operator's `application_name` (or `fallback_application_name`); seqsync adds its own.
    pub application_name: Option<String>,
    pub keepalives: bool,
    pub keepalives_idle: Option<Duration>,
    pub keepalives_interval: Option<Duration>,
    pub keepalives_count: Option<u32>,
    pub tcp_user_timeout: Option<Duration>,
    pub channel_binding: ChannelBinding,
    pub tls: TlsSettings,
    pub target: TargetSession,
    pub load_balance: bool,
    pub service: Option<String>,
    pub warnings: Vec<String>,
}

fn invalid(name: &str, value: &str) -> String {
    format!("invalid {name} value: \"{value}\"")
}

fn integer(name: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("invalid integer value \"{value}\" for connection option \"{name}\""))
}

fn seconds(merged: &Merged, name: &str) -> Result<Option<Duration>, String> {
    match merged.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Ok(Some(Duration::from_secs(integer(name, v)?.max(0) as u64))),
    }
}

fn one_of<T: Copy>(
    merged: &Merged,
    name: &str,
    default: T,
    values: &[(&str, T)],
) -> Result<T, String> {
    match merged.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => values
            .iter()
            .find(|(word, _)| *word == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| invalid(name, v)),
    }
}

fn list(value: Option<&str>) -> Vec<String> {
    match value {
        None | Some("") => vec![],
        Some(v) => v.split(',').map(|s| s.trim().to_string()).collect(),
    }
}

fn default_socket_dir(port: u16) -> PathBuf {
    SOCKET_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join(format!(".s.PGSQL.{port}")).exists())
        .unwrap_or_else(|| PathBuf::from(SOCKET_DIRS[0]))
}

fn hosts(merged: &Merged) -> Result<Vec<HostEntry>, String> {
    let names = list(merged.get("host"));
    let addresses = list(merged.get("hostaddr"));
    let ports = list(merged.get("port"));
    let count = names.len().max(addresses.len()).max(1);
    if !names.is_empty() && !addresses.is_empty() && names.len() != addresses.len() {
        return Err(format!(
            "could not match {} host names to {} hostaddr values",
            names.len(),
            addresses.len()
        ));
    }
    if ports.len() > 1 && ports.len() != count {
        return Err(format!(
            "could not match {} port numbers to {count} hosts",
            ports.len()
        ));
    }
    (0..count)
        .map(|i| {
            let port = match ports.get(i).or(ports.first()).map(String::as_str) {
                None | Some("") => 5432,
                Some(p) => {
                    let n = integer("port", p)?;
                    u16::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("invalid port number: \"{p}\""))?
                }
            };
            let name = names.get(i).map(String::as_str).unwrap_or("");
            let address = match addresses.get(i).map(String::as_str) {
                None | Some("") => None,
                Some(a) => Some(
                    a.parse::<IpAddr>()
                        .map_err(|_| format!("could not parse network address \"{a}\""))?,
                ),
            };
            let route = if name.starts_with('@') {
                return Err(format!(
                    "host={name}: abstract Unix sockets are not supported; give the socket's directory"
                ));
            } else if name.starts_with('/') {
                Route::Socket(PathBuf::from(name))
            } else if !name.is_empty() {
                Route::Tcp {
                    host: name.to_string(),
                    hostaddr: address,
                }
            } else if let Some(address) = address {
                Route::Address(address)
            } else {
                Route::Socket(default_socket_dir(port))
            };
            Ok(HostEntry { route, port })
        })
        .collect()
}

fn tls(merged: &Merged, env: &Environment) -> Result<TlsSettings, String> {
    let root_cert = merged
        .get("sslrootcert")
        .filter(|v| !v.is_empty())
        .map(|v| {
            if v == "system" {
                RootCert::System
            } else {
                RootCert::File(PathBuf::from(v))
            }
        });
    // PostgreSQL 16: sslrootcert=system defaults to, and insists on, verify-full.
    let default_mode = match root_cert {
        Some(RootCert::System) => SslMode::VerifyFull,
        _ => SslMode::Prefer,
    };
    let mode = one_of(
        merged,
        "sslmode",
        default_mode,
        &[
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ],
    )?;
    if root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
            merged.get("sslmode").unwrap_or_default()
        ));
    }
    let direct = one_of(
        merged,
        "sslnegotiation",
        false,
        &[("postgres", false), ("direct", true)],
    )?;
    if direct
        && !matches!(
            mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")",
            merged.get("sslmode").unwrap_or("prefer")
        ));
    }
    let compression = merged
        .get("sslcompression")
        .map(|v| integer("sslcompression", v));
    if compression.transpose()?.is_some_and(|v| v != 0) {
        return Err("sslcompression=1 is not supported: TLS compression is insecure and seqsync's TLS has none".into());
    }
    let cert_mode = one_of(
        merged,
        "sslcertmode",
        CertMode::Allow,
        &[
            ("disable", CertMode::Disable),
            ("allow", CertMode::Allow),
            ("require", CertMode::Require),
        ],
    )?;
    let version = |name: &str| {
        one_of(
            merged,
            name,
            None,
            &[
                ("TLSv1", Some(TlsVersion::V1_0)),
                ("TLSv1.1", Some(TlsVersion::V1_1)),
                ("TLSv1.2", Some(TlsVersion::V1_2)),
                ("TLSv1.3", Some(TlsVersion::V1_3)),
            ],
        )
    };
    let path = |name: &str| {
        merged
            .get(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    Ok(TlsSettings {
        mode,
        root_cert,
        client_cert: path("sslcert"),
        client_key: path("sslkey"),
        key_password: merged.get("sslpassword").map(String::from),
        cert_mode,
        crl: path("sslcrl"),
        crl_dir: path("sslcrldir"),
        sni: merged.get("sslsni").is_none_or(|v| v.trim() != "0"),
        min_version: version("ssl_min_protocol_version")?.unwrap_or(TlsVersion::V1_2),
        max_version: version("ssl_max_protocol_version")?,
        direct,
        home: env.home.clone(),
    })
}

impl Settings {
    pub fn from_merged(merged: Merged, env: &Environment) -> Result<Settings, String> {
        let mut warnings = merged.warnings.clone();
        let hosts = hosts(&merged)?;
        let user = match merged.get("user").filter(|u| !u.is_empty()) {
            Some(user) => user.to_string(),
            None => env.os_user.clone().ok_or(
                "could not look up the local user name: give user= or set PGUSER".to_string(),
            )?,
        };
        let dbname = merged
            .get("dbname")
            .filter(|d| !d.is_empty())
            .unwrap_or(&user)
            .to_string();
        let connect_timeout = match seconds(&merged, "connect_timeout")? {
            Some(t) if t.is_zero() => {
                warnings.push("connect_timeout=0 (wait forever) is not taken: seqsync bounds every wait, and uses its own connect timeout".into());
                None
            }
            // libpq: anything under 2 seconds is 2.
            Some(t) => Some(t.max(Duration::from_secs(2))),
            None => None,
        };
        if let Some(encoding) = merged.get("client_encoding") {
            let utf8 = ["utf8", "utf-8", "unicode", "auto"];
            if !utf8.contains(&encoding.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "client_encoding={encoding} is not supported: seqsync reads names as UTF8 (use UTF8 or auto)"
                ));
            }
        }
        if merged.get("gssencmode") == Some("require") {
            return Err("gssencmode=require is not supported: seqsync has no GSSAPI encryption (use sslmode)".into());
        }
        one_of(
            &merged,
            "gssencmode",
            (),
            &[("disable", ()), ("prefer", ())],
        )?;
        let millis = |name: &str| -> Result<Option<Duration>, String> {
            match merged.get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => Ok(Some(Duration::from_millis(integer(name, v)?.max(0) as u64))),
            }
        };
        Ok(Settings {
            hosts,
            dbname,
            user,
            password: merged.get("password").filter(|p| !p.is_empty()).map(|p| {
                (
                    p.to_string(),
                    merged.origin("password").cloned().expect("set"),
                )
            }),
            passfile: merged
                .get("passfile")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass"))),
            connect_timeout,
            options: merged
                .get("options")
                .filter(|o| !o.is_empty())
                .map(String::from),
            application_name: merged
                .get("application_name")
                .or(merged.get("fallback_application_name"))
                .filter(|a| !a.is_empty())
                .map(String::from),
            keepalives: merged
                .get("keepalives")
                .map(|v| integer("keepalives", v))
                .transpose()?
                .is_none_or(|v| v != 0),
            keepalives_idle: seconds(&merged, "keepalives_idle")?,
            keepalives_interval: seconds(&merged, "keepalives_interval")?,
            keepalives_count: merged
                .get("keepalives_count")
                .map(|v| integer("keepalives_count", v).map(|n| n.max(0) as u32))
                .transpose()?,
            tcp_user_timeout: millis("tcp_user_timeout")?,
            channel_binding: one_of(
                &merged,
                "channel_binding",
                ChannelBinding::Prefer,
                &[
                    ("disable", ChannelBinding::Disable),
                    ("prefer", ChannelBinding::Prefer),
                    ("require", ChannelBinding::Require),
                ],
            )?,
            tls: tls(&merged, env)?,
            target: one_of(
                &merged,
                "target_session_attrs",
                TargetSession::Any,
                &[
                    ("any", TargetSession::Any),
                    ("read-write", TargetSession::ReadWrite),
                    ("read-only", TargetSession::ReadOnly),
                    ("primary", TargetSession::Primary),
                    ("standby", TargetSession::Standby),
                    ("prefer-standby", TargetSession::PreferStandby),
                ],
            )?,
            load_balance: one_of(
                &merged,
                "load_balance_hosts",
                false,
                &[("disable", false), ("random", true)],
            )?,
            service: merged.get("service").map(String::from),
            warnings,
        })
    }
}
