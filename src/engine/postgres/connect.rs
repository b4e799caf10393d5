//! Connecting as libpq does: each host of the list in turn (shuffled with
//! `load_balance_hosts=random`), each bounded by the connect timeout, until one answers and
//! is what `target_session_attrs` asks for; `sslmode=allow` tries without TLS first.

use super::endpoint::{HostConfig, PgEndpoint, PgSession};
use super::errors::{describe, next_step, unanswered};
use crate::engine::conninfo::{Route, TargetSession};
use crate::engine::tls::SslMode;
use crate::engine::{Error, Timeouts};
use tokio_postgres::SimpleQueryMessage;

/// Why one host was not used.
struct Miss {
    host: String,
    reason: String,
}

impl PgEndpoint {
    pub async fn connect(&self, timeouts: &Timeouts) -> Result<PgSession, Error> {
        let mut timeouts = *timeouts;
        if let Some(connect) = self.settings.connect_timeout {
            timeouts.connect = connect;
        }
        let wanted = self.settings.target;
        let mut misses = vec![];
        let mut fallback = None;
        for host in self.host_order() {
            let session = match self.connect_host(host, &timeouts).await {
                Ok(session) => session,
                Err(reason) => {
                    misses.push(Miss {
                        host: host.entry.describe(),
                        reason,
                    });
                    continue;
                }
            };
            let standby = session.in_recovery;
            let matches = match wanted {
                TargetSession::Any => true,
                TargetSession::ReadWrite => !session.read_only,
                TargetSession::ReadOnly => session.read_only,
                TargetSession::Primary => !standby,
                TargetSession::Standby | TargetSession::PreferStandby => standby,
            };
            if matches {
                return Ok(session);
            }
            if wanted == TargetSession::PreferStandby {
                fallback.get_or_insert(session);
                continue;
            }
            misses.push(Miss {
                host: host.entry.describe(),
                reason: match wanted {
                    TargetSession::ReadWrite => "session is read-only".into(),
                    TargetSession::ReadOnly => "session is not read-only".into(),
                    TargetSession::Primary => "server is in hot standby mode".into(),
                    _ => "server is not in hot standby mode".into(),
                },
            });
        }
        if let Some(session) = fallback {
            return Ok(session);
        }
        let reasons = match misses.as_slice() {
            [one] => one.reason.clone(),
            many => many
                .iter()
                .map(|m| format!("{}: {}", m.host, m.reason))
                .collect::<Vec<_>>()
                .join("; "),
        };
        Err(Error::failed(self.scrub(&format!(
            "cannot connect to {}: {reasons}",
            self.display
        ))))
    }

    fn host_order(&self) -> Vec<&HostConfig> {
        let mut order: Vec<&HostConfig> = self.hosts.iter().collect();
        if self.settings.load_balance {
            let mut seed = [0u8; 8];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed);
            let mut state = u64::from_le_bytes(seed) | 1;
            for i in (1..order.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
        order
    }

    /// One host: the reason it failed, in an operator's words, or an open session.
    async fn connect_host(
        &self,
        host: &HostConfig,
        timeouts: &Timeouts,
    ) -> Result<PgSession, String> {
        let allow_then_tls = self.settings.tls.mode == SslMode::Allow
            && !matches!(host.entry.route, Route::Socket(_));
        match self.connect_with(host, &host.config, timeouts).await {
            // sslmode=allow: a server that turns the plain session away may take a TLS one.
            Err((reason, true)) if allow_then_tls => {
                let mut with_tls = host.config.clone();
                with_tls.ssl_mode(tokio_postgres::config::SslMode::Require);
                self.connect_with(host, &with_tls, timeouts)
                    .await
                    .map_err(|(second, _)| format!("{reason}; with TLS: {second}"))
            }
            other => other.map_err(|(reason, _)| reason),
        }
    }

    /// The error and whether the server itself refused (so another TLS mode may be tried).
    async fn connect_with(
        &self,
        host: &HostConfig,
        config: &tokio_postgres::Config,
        timeouts: &Timeouts,
    ) -> Result<PgSession, (String, bool)> {
        let mut config = config.clone();
        config.connect_timeout(timeouts.connect);
        let place = self.place_of(host);
        // tokio-postgres bounds the TCP connect; this also bounds a server that accepts the
        // connection and then never answers the startup handshake.
        let (tls, exchange) = self.tls.for_connection();
        let attempt =
            tokio::time::timeout(timeouts.connect, async { config.connect(tls).await }).await;
        let (client, connection) = match attempt {
            Err(_) => {
                return Err((
                    format!(
                        "no answer within {} — {}",
                        humantime::format_duration(timeouts.connect),
                        unanswered(&place)
                    ),
                    false,
                ))
            }
            Ok(Err(e)) => {
                let next = next_step(&e, &place)
                    .map(|step| format!(" — {step}"))
                    .unwrap_or_default();
                let refused_by_server = e.as_db_error().is_some();
                return Err((format!("{}{next}", describe(&e)), refused_by_server));
            }
            Ok(Ok(pair)) => pair,
        };
        // sslcertmode=require, judged before the session is used: dropping it closes it.
        exchange.judge().map_err(|why| (why, false))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut session = PgSession {
            client,
            endpoint: self.clone(),
            timeouts: *timeouts,
            server_version: 0,
            host: host.entry.clone(),
            in_recovery: false,
            read_only: false,
            idle_statements: Default::default(),
            apply_statements: Default::default(),
        };
        // The limits, the server's version and its role in one round trip.
        let settings = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}; \
             SELECT pg_catalog.current_setting('server_version_num'), pg_catalog.pg_is_in_recovery()::text, \
             pg_catalog.current_setting('transaction_read_only')",
            timeouts.statement.as_millis(),
            timeouts.lock.as_millis(),
            (timeouts.statement * 2).as_millis()
        );
        let answers = session
            .bounded(
                "setting session timeouts",
                session.client.simple_query(&settings),
            )
            .await
            .map_err(|e| (e.message, false))?;
        let row = answers.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        });
        let field = |i: usize| row.and_then(|r| r.get(i));
        session.server_version = field(0)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ("the server did not say its version".to_string(), false))?;
        session.in_recovery = field(1) == Some("true");
        session.read_only = field(2) == Some("on");
        Ok(session)
    }

    pub(super) fn place_of(&self, host: &HostConfig) -> String {
        match &host.entry.route {
            Route::Socket(_) => format!("socket \"{}\"", host.entry.describe()),
            Route::Tcp { host: name, .. } => {
                format!("host \"{name}\", port {}", host.entry.port)
            }
            Route::Address(address) => {
                format!("host \"{address}\", port {}", host.entry.port)
            }
        }
    }
}

/// Where a session arrived, as psql's `\conninfo` says it, and what the server is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Arrival {
    /// The host of the list that answered: `host:port` or the socket file.
    pub reached: String,
    pub database: String,
    pub user: String,
    /// The server's own `port` setting.
    pub port: String,
    /// The protocol version, when the session is encrypted.
    pub tls: Option<String>,
    pub application_name: String,
    pub standby: bool,
    pub read_only: bool,
    pub server_version: String,
}

impl PgSession {
    pub async fn arrival(&self) -> Result<Arrival, Error> {
        let row = self
            .bounded(
                "reading where the session arrived",
                self.client.query_one(
                    "SELECT pg_catalog.current_database()::text, current_user::text, \
                     pg_catalog.current_setting('port'), \
                     (SELECT version FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid() AND ssl), \
                     pg_catalog.current_setting('application_name'), \
                     pg_catalog.current_setting('server_version')",
                    &[],
                ),
            )
            .await?;
        Ok(Arrival {
            reached: self.reached(),
            database: row.get(0),
            user: row.get(1),
            port: row.get(2),
            tls: row.get(3),
            application_name: row.get(4),
            standby: self.in_recovery,
            read_only: self.read_only,
            server_version: row.get(5),
        })
    }
}
