//! A PostgreSQL-protocol endpoint (connection string, password, TLS) and a session on it with
//! its limits: every call is bounded, and its error becomes an operator's sentence.

use super::errors::describe_with_timeouts;
use crate::engine::conninfo::{
    self, ChannelBinding, Environment, HostEntry, Origin, Route, Settings,
};
use crate::engine::secret::{mask_password, pgpass_password, scrub};
use crate::engine::text::{excerpt, EXCERPT_CHARS};
use crate::engine::tls::{connector, Connector, SslMode, TlsSettings};
use crate::engine::{Error, Timeouts};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::config::SslNegotiation;
use tokio_postgres::{Client, Config};

/// Extra time a client-side timeout allows beyond the server's own `statement_timeout`, so the
/// server's clearer error wins when the server is still there.
pub(super) const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// `application_name` for every seqsync session: seqsync's name first (PostgreSQL keeps 63
/// bytes, and a refused run finds the holder's run id in it), then the run, then the
/// operator's own `application_name` in parentheses.
pub fn application_name(run: Option<&str>, operator: Option<&str>) -> String {
    let mut name = concat!("seqsync/", env!("CARGO_PKG_VERSION")).to_string();
    if let Some(run) = run {
        name.push(' ');
        name.push_str(run);
    }
    if let Some(operator) = operator {
        name.push_str(&format!(" ({operator})"));
    }
    name
}

/// The run id in a seqsync session's `application_name`, if it carries one.
pub fn run_of(application_name: &str) -> Option<&str> {
    let rest = application_name.strip_prefix("seqsync/")?;
    let (_, after) = rest.split_once(' ')?;
    let run = after.split_whitespace().next()?;
    (!run.starts_with('(')).then_some(run)
}

/// One host of the list, ready to connect.
#[derive(Clone)]
pub(super) struct HostConfig {
    pub(super) entry: HostEntry,
    pub(super) config: Config,
}

#[derive(Clone)]
pub struct PgEndpoint {
    pub(super) hosts: Vec<HostConfig>,
    pub(super) tls: Connector,
    /// Shared: every session keeps a copy of its endpoint.
    pub(super) settings: std::sync::Arc<Settings>,
    /// The connection string as it may be shown: password masked.
    pub display: String,
    /// Things the operator should know (an ignored ~/.pgpass, say); never secret.
    pub warnings: Vec<String>,
    secrets: Vec<String>,
}

impl std::fmt::Debug for PgEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEndpoint")
            .field("display", &self.display)
            .finish()
    }
}

impl PgEndpoint {
    /// `conninfo` is a URL or a libpq key=value string, resolved with libpq's conventions
    /// (service file, `PG*` variables, defaults). `password` (from `password_env`) is used
    /// when the string has none, before the service file's, `PGPASSWORD` and the password file.
    pub fn new(conninfo: &str, password: Option<String>) -> Result<Self, Error> {
        Self::resolve(conninfo, password, &Environment::current())
    }

    pub fn resolve(
        conninfo: &str,
        password: Option<String>,
        env: &Environment,
    ) -> Result<Self, Error> {
        // Shown in every error about this endpoint: a pasted 100 KB string is cut, not echoed.
        let display = excerpt(&mask_password(conninfo), EXCERPT_CHARS).into_owned();
        let usage = |e: String| {
            let detail = if conninfo.contains("://") || conninfo.contains('=') {
                String::new()
            } else {
                "; expected postgresql://user@host:port/dbname, 'host=… dbname=…' or 'service=name'"
                    .to_string()
            };
            Error::usage(format!(
                "invalid connection string {display}: {}{detail}",
                excerpt(&e, EXCERPT_CHARS)
            ))
        };
        let settings = conninfo::resolve(conninfo, env).map_err(usage)?;
        let mut secrets: Vec<String> = vec![];
        let mut warnings = settings.warnings.clone();
        let shared_password = match (&settings.password, password) {
            (Some((p, Origin::ConnectionString)), _) => Some(p.clone()),
            (_, Some(p)) => Some(p),
            (Some((p, _)), None) => Some(p.clone()),
            (None, None) => None,
        };
        secrets.extend(shared_password.clone());
        secrets.extend(settings.tls.key_password.clone());
        let (_, tls) =
            connector(&settings.tls).map_err(|e| Error::usage(format!("{display}: {e}")))?;
        let mut hosts = vec![];
        for entry in &settings.hosts {
            let mut config = Config::new();
            config.user(&settings.user);
            config.dbname(&settings.dbname);
            config.port(entry.port);
            match &entry.route {
                Route::Tcp { host, hostaddr } => {
                    config.host(host);
                    if let Some(address) = hostaddr {
                        config.hostaddr(*address);
                    }
                }
                Route::Address(address) => {
                    // The address is also the name TLS is checked against, as in libpq.
                    config.host(address.to_string());
                    config.hostaddr(*address);
                }
                Route::Socket(dir) => {
                    config.host_path(dir);
                }
            }
            config.ssl_mode(wire_mode(&settings.tls, &entry.route));
            if settings.tls.direct {
                config.ssl_negotiation(SslNegotiation::Direct);
            }
            config.application_name(application_name(None, settings.application_name.as_deref()));
            if let Some(options) = &settings.options {
                config.options(options);
            }
            config.keepalives(settings.keepalives);
            config.keepalives_idle(settings.keepalives_idle.unwrap_or(Duration::from_secs(30)));
            if let Some(interval) = settings.keepalives_interval {
                config.keepalives_interval(interval);
            }
            if let Some(count) = settings.keepalives_count {
                config.keepalives_retries(count);
            }
            if let Some(timeout) = settings.tcp_user_timeout {
                config.tcp_user_timeout(timeout);
            }
            config.channel_binding(match settings.channel_binding {
                ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
                ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
                ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
            });
            let password = match &shared_password {
                Some(p) => Some(p.clone()),
                None => match &settings.passfile {
                    Some(file) => {
                        let (found, warning) = pgpass_password(
                            file,
                            &entry.pgpass_host(),
                            entry.port,
                            &settings.dbname,
                            &settings.user,
                        );
                        warnings.extend(warning.filter(|w| !warnings.contains(w)));
                        secrets.extend(found.clone());
                        found
                    }
                    None => None,
                },
            };
            if let Some(password) = password {
                config.password(password);
            }
            hosts.push(HostConfig {
                entry: entry.clone(),
                config,
            });
        }
        let display = scrub(
            &display,
            &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        Ok(PgEndpoint {
            hosts,
            tls,
            settings: std::sync::Arc::new(settings),
            display,
            warnings,
            secrets,
        })
    }

    /// The role seqsync logs in as (given, or libpq's default: the operating system's user).
    pub fn user(&self) -> Option<&str> {
        Some(&self.settings.user)
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        scrub(
            text,
            &self.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }
}

/// libpq never uses TLS on a Unix socket, whatever sslmode says.
fn wire_mode(tls: &TlsSettings, route: &Route) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Wire;
    match (route, tls.mode) {
        (Route::Socket(_), _) | (_, SslMode::Disable | SslMode::Allow) => Wire::Disable,
        (_, SslMode::Prefer) => Wire::Prefer,
        _ => Wire::Require,
    }
}

/// One connection with its limits.
pub struct PgSession {
    pub(super) client: Client,
    pub(super) endpoint: PgEndpoint,
    pub(super) timeouts: Timeouts,
    /// `server_version_num`, e.g. 150004.
    pub(super) server_version: i32,
    /// The host of the list this session reached.
    pub(super) host: HostEntry,
    pub(super) in_recovery: bool,
    pub(super) read_only: bool,
    /// A watch's idle-round statements, prepared once: a kept session runs them every round,
    /// and planning them each time cost as much as running them.
    pub(super) idle_statements: tokio::sync::OnceCell<IdleStatements>,
    /// The apply's statements, prepared on the session once (`postgres::apply`).
    pub(super) apply_statements: tokio::sync::OnceCell<ApplyStatements>,
}

/// The statements every apply batch runs, prepared once: preparing is a round trip of its
/// own, and a prepared statement lets a batch send its statements together (see
/// `postgres::apply`).
pub(super) struct ApplyStatements {
    /// Locks a batch as `setval` does and reads it (`postgres::read`).
    pub(super) lock: tokio_postgres::Statement,
    pub(super) live_catalogue: tokio_postgres::Statement,
    pub(super) set: tokio_postgres::Statement,
}

/// A watch's idle-round statements for this server (`postgres::idle`), prepared on the
/// session once.
pub(super) struct IdleStatements {
    pub(super) fingerprint: tokio_postgres::Statement,
    pub(super) quick: tokio_postgres::Statement,
}

impl PgSession {
    pub fn display(&self) -> &str {
        &self.endpoint.display
    }

    /// Which host of the list answered: `host:port` or the socket file.
    pub fn reached(&self) -> String {
        self.host.describe()
    }

    /// The operator's own `application_name`, kept after seqsync's when a run renames the
    /// session.
    pub(super) fn operator_application_name(&self) -> Option<&str> {
        self.endpoint.settings.application_name.as_deref()
    }

    /// Bounds any database call by the statement timeout plus a grace, so a silently dropped
    /// connection cannot hang us, and turns its error into an operator's sentence.
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeouts.statement + CLIENT_GRACE, call).await {
            Err(_) => Err(Error::failed(format!(
                "{what} on {}: no answer within {}; the connection may be lost",
                self.endpoint.display,
                humantime::format_duration(self.timeouts.statement + CLIENT_GRACE)
            ))),
            Ok(Err(e)) => Err(Error::failed(self.endpoint.scrub(&format!(
                "{what} on {}: {}",
                self.endpoint.display,
                describe_with_timeouts(&e, &self.timeouts)
            )))),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// PostgreSQL 18 reads any sequence's exact state with `pg_get_sequence_data` (SELECT
    /// privilege, one row per sequence, NULL where there is no value); older servers have no
    /// function for a sequence never called, and read its relation instead. This is the one
    /// place that decides which path a session takes.
    pub(super) fn reads_sequence_data(&self) -> bool {
        self.server_version >= 180_000
    }

    pub fn server_version(&self) -> i32 {
        self.server_version
    }

    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }

    pub(super) async fn execute(&self, what: &str, sql: &str) -> Result<(), Error> {
        self.bounded(what, self.client.batch_execute(sql)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_display_never_shows_the_password() {
        let e = PgEndpoint::new("postgresql://u:hunter22@127.0.0.1:1/db", None).unwrap();
        assert_eq!(e.display, "postgresql://u:****@127.0.0.1:1/db");
        assert!(!format!("{e:?}").contains("hunter22"));
        let e = PgEndpoint::new("host=127.0.0.1 port=1 user=u password=hunter22", None).unwrap();
        assert!(!e.display.contains("hunter22"));
    }

    #[test]
    fn bad_connection_strings_say_what_is_expected() {
        let err = PgEndpoint::new("postgresql://u:hunter22@h:notaport/db", None).unwrap_err();
        assert!(err.message.contains("invalid connection string"), "{err}");
        assert!(!err.message.contains("hunter22"), "{err}");
        assert_eq!(err.kind, crate::engine::ErrorKind::Usage);
    }
}
