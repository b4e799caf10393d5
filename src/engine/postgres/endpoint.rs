//! A PostgreSQL-protocol endpoint (connection string, password, TLS) and a session on it with
//! its limits: every call is bounded, and its error becomes an operator's sentence.

use super::errors::{describe, describe_with_timeouts, error_chain, next_step, unanswered};
use crate::engine::secret::{mask_password, pgpass_password, scrub};
use crate::engine::text::{excerpt, EXCERPT_CHARS};
use crate::engine::tls::{connector, split_tls_options};
use crate::engine::{Error, Timeouts};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Extra time a client-side timeout allows beyond the server's own `statement_timeout`, so the
/// server's clearer error wins when the server is still there.
pub(super) const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// `application_name` for every seqsync session; a run's sessions add their run id.
pub fn application_name(run: Option<&str>) -> String {
    let base = concat!("seqsync/", env!("CARGO_PKG_VERSION"));
    match run {
        // PostgreSQL keeps 63 bytes of it; run ids are 25.
        Some(run) => format!("{base} {run}"),
        None => base.to_string(),
    }
}

/// The run id in a seqsync session's `application_name`, if it carries one.
pub fn run_of(application_name: &str) -> Option<&str> {
    let rest = application_name.strip_prefix("seqsync/")?;
    rest.split_once(' ').map(|(_, run)| run.trim())
}

#[derive(Clone)]
pub struct PgEndpoint {
    config: Config,
    tls: MakeRustlsConnect,
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
    /// `conninfo` is a URL or a libpq key=value string. `password` (from `password_env`) is used
    /// when the string has none; then `PGPASSWORD`.
    pub fn new(conninfo: &str, password: Option<String>) -> Result<Self, Error> {
        // Shown in every error about this endpoint: a pasted 100 KB string is cut, not echoed.
        let display = excerpt(&mask_password(conninfo), EXCERPT_CHARS).into_owned();
        let mut secrets = vec![];
        let (conninfo, tls) =
            split_tls_options(conninfo).map_err(|e| Error::usage(format!("{display}: {e}")))?;
        let mut config: Config = conninfo.trim().parse().map_err(|e| {
            Error::usage(format!(
                "invalid connection string {display}: {}; expected postgresql://user@host:port/dbname or 'host=… dbname=…'",
                excerpt(&error_chain(&e), EXCERPT_CHARS)
            ))
        })?;
        if config.get_user().is_none() {
            let user = ["PGUSER", "USER", "LOGNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok())
                .unwrap_or_else(|| "postgres".to_string());
            config.user(user);
        }
        if config.get_hosts().is_empty() {
            config.host(std::env::var("PGHOST").as_deref().unwrap_or("localhost"));
        }
        // libpq's order: the connection string, then (ours) password_env, PGPASSWORD, ~/.pgpass.
        let mut warnings = vec![];
        if let Some(p) = config.get_password() {
            secrets.push(String::from_utf8_lossy(p).into_owned());
        } else if let Some(p) = password.or_else(|| std::env::var("PGPASSWORD").ok()) {
            secrets.push(p.clone());
            config.password(p);
        } else {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => "localhost".to_string(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config.get_user().unwrap_or_default().to_string();
            let database = config.get_dbname().unwrap_or(&user).to_string();
            let (found, warning) = pgpass_password(&host, port, &database, &user);
            warnings.extend(warning);
            if let Some(p) = found {
                secrets.push(p.clone());
                config.password(p);
            }
        }
        let (wire_mode, tls) =
            connector(&tls).map_err(|e| Error::usage(format!("{display}: {e}")))?;
        config.ssl_mode(wire_mode);
        config.application_name(application_name(None));
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let display = scrub(
            &display,
            &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        Ok(PgEndpoint {
            config,
            tls,
            display,
            warnings,
            secrets,
        })
    }

    /// The role the connection string names, if it names one.
    pub fn user(&self) -> Option<&str> {
        self.config.get_user()
    }

    /// `host "h", port p` (every host when there are several), for the next step of an error.
    fn place(&self) -> String {
        let places: Vec<String> = crate::engine::instance::hosts_and_ports(&self.config)
            .into_iter()
            .map(|(host, port)| format!("host \"{}\", port {port}", excerpt(&host, 80)))
            .collect();
        places.join(" or ")
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        scrub(
            text,
            &self.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    pub async fn connect(&self, timeouts: &Timeouts) -> Result<PgSession, Error> {
        let mut config = self.config.clone();
        config.connect_timeout(timeouts.connect);
        let hosts = config.get_hosts().len().max(1) as u32;
        // tokio-postgres bounds the TCP connect; this also bounds a server that accepts the
        // connection and then never answers the startup handshake.
        let attempt = tokio::time::timeout(timeouts.connect * hosts, async {
            config.connect(self.tls.clone()).await
        })
        .await;
        let (client, connection) = match attempt {
            Err(_) => {
                return Err(Error::failed(format!(
                    "cannot connect to {}: no answer within {} — {}",
                    self.display,
                    humantime::format_duration(timeouts.connect),
                    unanswered(&self.place())
                )))
            }
            Ok(Err(e)) => {
                let next = next_step(&e, &self.place())
                    .map(|step| format!(" — {step}"))
                    .unwrap_or_default();
                return Err(Error::failed(self.scrub(&format!(
                    "cannot connect to {}: {}{next}",
                    self.display,
                    describe(&e)
                ))));
            }
            Ok(Ok(pair)) => pair,
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut session = PgSession {
            client,
            endpoint: self.clone(),
            timeouts: *timeouts,
            server_version: 0,
        };
        // The limits and the server's version in one round trip.
        let settings = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}; \
             SELECT pg_catalog.current_setting('server_version_num')",
            timeouts.statement.as_millis(),
            timeouts.lock.as_millis(),
            (timeouts.statement * 2).as_millis()
        );
        let answers = session
            .bounded(
                "setting session timeouts",
                session.client.simple_query(&settings),
            )
            .await?;
        session.server_version = answers
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
                _ => None,
            })
            .ok_or_else(|| {
                Error::failed(format!(
                    "{}: the server did not say its version",
                    self.display
                ))
            })?;
        Ok(session)
    }
}

/// One connection with its limits.
pub struct PgSession {
    pub(super) client: Client,
    pub(super) endpoint: PgEndpoint,
    pub(super) timeouts: Timeouts,
    /// `server_version_num`, e.g. 150004.
    pub(super) server_version: i32,
}

impl PgSession {
    pub fn display(&self) -> &str {
        &self.endpoint.display
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
