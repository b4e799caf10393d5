//! PostgreSQL protocol adapter (PostgreSQL, PolarDB for PostgreSQL, PolarDB compatible with
//! Oracle): read every sequence, apply a plan all-or-nothing, read back.
//!
//! # Why the apply is a compensated series of `setval` batches
//!
//! Measured on PostgreSQL 15 (see DESIGN.md and `benches/sync_10k.rs`):
//! * `setval` is not transactional: ROLLBACK does not undo it, and it is visible to other
//!   sessions at once.
//! * `ALTER SEQUENCE … RESTART` is transactional, but writes a catalogue row and a new relation
//!   file per sequence: about 5× slower than `setval` over `unnest`.
//! * Both hold a lock per sequence until the end of the transaction, and the whole server's lock
//!   table holds only about 12,500 locks at default settings. 50,000 sequences therefore cannot be
//!   changed in one transaction *by any means* — RESTART included — without raising
//!   `max_locks_per_transaction`, which needs a restart we may not ask for mid-incident.
//!
//! So no single transaction can make a 50,000-sequence change atomic, and atomicity has to come
//! from the protocol instead. We use a write-ahead, compensated apply (a saga):
//! 1. The plan (every before and target) is journaled and fsynced before anything changes.
//! 2. Sequences are applied in batches, one transaction each, well inside the lock budget.
//!    Each batch first takes the same lock `setval` would (`pg_sequence_last_value`), so a
//!    conflicting session makes `lock_timeout` fire *before* anything in the batch changes; then
//!    it re-reads the exact state and bounds under that lock and re-checks every row against
//!    the plan; only then does one `setval` over `unnest` set the whole batch.
//! 3. If anything fails — a lock timeout, a bound changed under us, a terminated backend, a lost
//!    connection, a cancel — every sequence this run touched is restored to the exact state read
//!    under lock (`setval(seq, last_value, is_called)`), from a fresh connection, retried until a
//!    deadline. A sequence is restored only if it still holds exactly what we set; one that has
//!    handed out values since is left alone and reported (lowering it could re-issue ids).
//! 4. After success, the destination is read back and the "after" column shows what was read.
//!
//! The cost over the non-atomic floor is two cheap reads per batch and a commit per batch.

use super::journal::{Backend, Locked};
use super::model::{quote_ident, DataEdge, OwnedBy, PlanRow, RowStatus, Sequence};
use super::secret::{mask_password, pgpass_password, scrub};
use super::tls::{connector, split_tls_options};
use super::{EngineError, Timeouts};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Config, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Extra time a client-side timeout allows beyond the server's own `statement_timeout`, so the
/// server's clearer error wins when the server is still there.
const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// Sequences per value-reading statement. `pg_sequence_last_value` keeps a lock per sequence to
/// the end of the statement's transaction, so plan reads stay well inside the lock budget.
const READ_CHUNK: usize = 2_000;

/// Sequences per direct `SELECT … FROM seq` statement. PostgreSQL 15 has no function that
/// returns `last_value` of a sequence not yet called (`pg_sequence_last_value` returns NULL), so
/// those are read from the relation itself; planning a UNION ALL grows faster than linearly with
/// its branches (measured: 1,000 branches 210 ms, 100 × 10 branches 26 ms), so small chunks…
const DIRECT_CHUNK: usize = 16;
/// …pipelined on the connection, this many at a time.
const DIRECT_PIPELINE: usize = 32;
/// Connections that read never-called sequences side by side during a plan…
const PARALLEL_READERS: usize = 2;
/// …one per this many sequences.
const PARALLEL_READ_THRESHOLD: usize = 1_000;

/// Sequences per apply transaction: far below the ~12,500 locks a default server can hold in
/// total, leaving room for every other session.
pub const DEFAULT_APPLY_BATCH: usize = 2_500;

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
    pub fn new(conninfo: &str, password: Option<String>) -> Result<Self, EngineError> {
        let display = mask_password(conninfo);
        let mut secrets = vec![];
        let (conninfo, tls) =
            split_tls_options(conninfo).map_err(|e| EngineError::new(format!("{display}: {e}")))?;
        let mut config: Config = conninfo.trim().parse().map_err(|e| {
            EngineError::new(format!(
                "invalid connection string {display}: {}; expected postgresql://user@host:port/dbname or 'host=… dbname=…'",
                error_chain(&e)
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
            connector(&tls).map_err(|e| EngineError::new(format!("{display}: {e}")))?;
        config.ssl_mode(wire_mode);
        config.application_name("seqsync");
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

    fn scrub(&self, text: &str) -> String {
        scrub(
            text,
            &self.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    pub async fn connect(&self, timeouts: &Timeouts) -> Result<PgSession, EngineError> {
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
                return Err(EngineError::new(format!(
                    "cannot connect to {}: no answer within {}",
                    self.display,
                    humantime::format_duration(timeouts.connect)
                )))
            }
            Ok(Err(e)) => {
                return Err(EngineError::new(self.scrub(&format!(
                    "cannot connect to {}: {}",
                    self.display,
                    describe(&e)
                ))))
            }
            Ok(Ok(pair)) => pair,
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let session = PgSession {
            client,
            endpoint: self.clone(),
            timeouts: *timeouts,
        };
        let settings = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {};",
            timeouts.statement.as_millis(),
            timeouts.lock.as_millis(),
            (timeouts.statement * 2).as_millis()
        );
        session
            .bounded(
                "setting session timeouts",
                session.client.batch_execute(&settings),
            )
            .await?;
        Ok(session)
    }
}

/// One connection with its limits.
pub struct PgSession {
    client: Client,
    endpoint: PgEndpoint,
    timeouts: Timeouts,
}

/// What the destination's catalogue says of a logical replication subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState {
    pub enabled: bool,
    pub apply_worker_running: bool,
    pub tables: i64,
    pub tables_not_ready: i64,
    /// Apply and table-sync errors counted since the statistics were last reset.
    pub errors: i64,
}

/// A sequence's exact state: enough to restore it with `setval(seq, last_value, is_called)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawState {
    pub last_value: i64,
    pub is_called: bool,
}

/// A sequence read by OID under the caller's locks.
#[derive(Debug, Clone)]
struct LiveSequence {
    sequence: Sequence,
    state: RawState,
}

const CATALOGUE_SQL: &str = r#"
SELECT c.oid,
       n.nspname,
       c.relname,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle, s.seqcache,
       n.usable AND has_sequence_privilege(c.oid, 'SELECT') AS can_read,
       n.usable AND has_sequence_privilege(c.oid, 'UPDATE') AS can_update,
       n.usable AS schema_usable,
       tn.nspname AS owner_schema, t.relname AS owner_table, a.attname AS owner_column,
       d.deptype = 'i' AS owner_identity,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
               WHERE x.indrelid = t.oid AND x.indkey[0] = a.attnum AND x.indisvalid) AS owner_indexed,
       COALESCE(has_column_privilege(t.oid, a.attnum, 'SELECT')
                AND has_schema_privilege(tn.oid, 'USAGE'), false) AS owner_readable
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN (SELECT oid, nspname, has_schema_privilege(oid, 'USAGE') AS usable
      FROM pg_catalog.pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema')
        AND nspname NOT LIKE 'pg\_toast%'
        AND nspname NOT LIKE 'pg\_temp\_%') n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_depend d
       ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE c.relpersistence <> 't'
  AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
"#;

/// Reads sequences by OID: names and bounds from the catalogue, state from the relation.
const LIVE_CATALOGUE_SQL: &str = r#"
SELECT u.i::int8, n.nspname, c.relname, format_type(s.seqtypid, NULL),
       s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle, s.seqcache
FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i)
JOIN pg_catalog.pg_class c ON c.oid = u.o AND c.relkind = 'S'
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
ORDER BY u.i
"#;

/// `last_value` of every called sequence (NULL for one not yet called), about 2.5 µs each.
/// It takes the lock `setval` takes (RowExclusiveLock, held to the end of the transaction), so
/// inside an apply transaction it also locks the batch before anything changes.
const FAST_VALUES_SQL: &str = "SELECT pg_catalog.pg_sequence_last_value(u.o) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) ORDER BY u.i";

const SUBSCRIPTION_SQL: &str = r#"
SELECT s.oid, s.subenabled,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_subscription w
               WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL) AS apply_running,
       (SELECT count(*) FROM pg_catalog.pg_subscription_rel r WHERE r.srsubid = s.oid) AS tables,
       (SELECT count(*) FROM pg_catalog.pg_subscription_rel r
        WHERE r.srsubid = s.oid AND r.srsubstate NOT IN ('r', 's')) AS tables_not_ready
FROM pg_catalog.pg_subscription s
WHERE s.subname = $1
  AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
"#;

const SUBSCRIPTION_ERRORS_SQL: &str = "SELECT (apply_error_count + sync_error_count)::int8 \
     FROM pg_catalog.pg_stat_subscription_stats WHERE subid = $1";

const SUBSCRIPTION_SLOTS_SQL: &str = "SELECT subslotname::text FROM pg_catalog.pg_subscription \
     WHERE subslotname IS NOT NULL \
       AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())";

const LOGICAL_SLOTS_SQL: &str = "SELECT slot_name::text FROM pg_catalog.pg_replication_slots \
     WHERE slot_type = 'logical' AND database = current_database()";

const READ_ONLY_HINT: &str = "the destination is read-only (a hot standby, or \
     default_transaction_read_only is on): connect to the primary, or allow changes";

/// Owning columns whose extreme one statement reads (one index probe each).
const DATA_EDGE_CHUNK: usize = 50;

/// Sequences by name, in order; NULL where there is no such sequence any more.
const OIDS_BY_NAME_SQL: &str = "SELECT c.oid \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, n, i) \
     LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s \
     LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n AND c.relkind = 'S' \
     ORDER BY u.i";

const NEXTVAL_SQL: &str = "SELECT pg_catalog.nextval(u.o::regclass) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) ORDER BY u.i";

const SETVAL_SQL: &str = "SELECT count(pg_catalog.setval(u.o::regclass, u.v, u.c)) \
     FROM unnest($1::oid[], $2::int8[], $3::bool[]) AS u(o, v, c)";

impl PgSession {
    pub fn display(&self) -> &str {
        &self.endpoint.display
    }

    /// Bounds any database call by the statement timeout plus a grace, so a silently dropped
    /// connection cannot hang us, and turns its error into an operator's sentence.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(self.timeouts.statement + CLIENT_GRACE, call).await {
            Err(_) => Err(EngineError::new(format!(
                "{what} on {}: no answer within {}; the connection may be lost",
                self.endpoint.display,
                humantime::format_duration(self.timeouts.statement + CLIENT_GRACE)
            ))),
            Ok(Err(e)) => Err(EngineError::new(self.endpoint.scrub(&format!(
                "{what} on {}: {}",
                self.endpoint.display,
                describe_with_timeouts(&e, &self.timeouts)
            )))),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Every user sequence of the database: one catalogue query for metadata and privileges,
    /// then the values of the readable ones, a chunk of sequences per statement.
    pub async fn read_sequences(&self) -> Result<Vec<Sequence>, EngineError> {
        let rows = self
            .bounded(
                "reading the sequence catalogue",
                self.client.query(CATALOGUE_SQL, &[]),
            )
            .await?;
        let mut sequences: Vec<Sequence> = rows
            .iter()
            .map(|r| {
                let owner_table: Option<String> = r.get("owner_table");
                Sequence {
                    oid: r.get("oid"),
                    schema: r.get("nspname"),
                    name: r.get("relname"),
                    data_type: r.get("data_type"),
                    start: r.get("seqstart"),
                    min: r.get("seqmin"),
                    max: r.get("seqmax"),
                    increment: r.get("seqincrement"),
                    cycle: r.get("seqcycle"),
                    cache: r.get("seqcache"),
                    last_value: None,
                    is_called: false,
                    can_read: r.get("can_read"),
                    can_update: r.get("can_update"),
                    schema_usable: r.get("schema_usable"),
                    origin: None,
                    owned_by: owner_table.map(|table| OwnedBy {
                        schema: r.get("owner_schema"),
                        table,
                        column: r.get("owner_column"),
                        identity: r.get("owner_identity"),
                        indexed: r.get("owner_indexed"),
                        readable: r.get("owner_readable"),
                    }),
                }
            })
            .collect();
        let readable: Vec<usize> = (0..sequences.len())
            .filter(|&i| sequences[i].can_read)
            .collect();
        let mut uncalled = vec![];
        for chunk in readable.chunks(READ_CHUNK) {
            let oids: Vec<u32> = chunk.iter().map(|&i| sequences[i].oid).collect();
            for (&i, value) in chunk.iter().zip(self.fast_values(&oids).await?) {
                match value {
                    Some(v) => {
                        sequences[i].last_value = Some(v);
                        sequences[i].is_called = true;
                    }
                    None => uncalled.push(i),
                }
            }
        }
        let names: Vec<(&str, &str)> = uncalled
            .iter()
            .map(|&i| (sequences[i].schema.as_str(), sequences[i].name.as_str()))
            .collect();
        let states = self.direct_states_parallel(&names).await?;
        for (&i, state) in uncalled.iter().zip(states) {
            sequences[i].last_value = Some(state.last_value);
            sequences[i].is_called = state.is_called;
        }
        Ok(sequences)
    }

    /// Direct reads spread over this connection and, for many sequences, helper connections:
    /// each read is server CPU (parsing and opening the relation), so more backends finish
    /// sooner on a multi-core server.
    async fn direct_states_parallel(
        &self,
        names: &[(&str, &str)],
    ) -> Result<Vec<RawState>, EngineError> {
        let helpers_wanted = (names.len() / PARALLEL_READ_THRESHOLD).min(PARALLEL_READERS - 1);
        let mut helpers = vec![];
        for _ in 0..helpers_wanted {
            // A helper that cannot connect (connection limit) only costs speed.
            match self.endpoint.connect(&self.timeouts).await {
                Ok(h) => helpers.push(h),
                Err(_) => break,
            }
        }
        let readers: Vec<&PgSession> = std::iter::once(self).chain(helpers.iter()).collect();
        let share = names.len().div_ceil(readers.len()).max(1);
        let reads: Vec<_> = names
            .chunks(share)
            .zip(&readers)
            .map(|(part, reader)| reader.direct_states_pipelined(part))
            .collect();
        let parts = futures_util::future::try_join_all(reads).await?;
        Ok(parts.into_iter().flatten().collect())
    }

    async fn direct_states_pipelined(
        &self,
        names: &[(&str, &str)],
    ) -> Result<Vec<RawState>, EngineError> {
        // The futures are built first: a closure inside the stream would make the whole future
        // not provably Send (rustc's higher-ranked lifetime limitation), and the TUI's worker
        // runs it on a spawned task.
        let reads: Vec<_> = names
            .chunks(DIRECT_CHUNK)
            .map(|chunk| self.direct_states(chunk))
            .collect();
        let parts: Vec<Vec<RawState>> = stream::iter(reads)
            .buffered(DIRECT_PIPELINE)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// How many sequences `read_sequences` would return, without reading their values.
    pub async fn count_sequences(&self) -> Result<usize, EngineError> {
        let row = self
            .bounded(
                "counting sequences",
                self.client.query_one(
                    &format!("SELECT count(*) FROM ({CATALOGUE_SQL}) catalogue"),
                    &[],
                ),
            )
            .await?;
        Ok(row.get::<_, i64>(0) as usize)
    }

    /// `last_value` of each called sequence, None for one not yet called. Inside a transaction
    /// this also locks each sequence as `setval` would.
    async fn fast_values(&self, oids: &[u32]) -> Result<Vec<Option<i64>>, EngineError> {
        let rows = self
            .bounded(
                "reading sequence values",
                self.client.query(FAST_VALUES_SQL, &[&oids]),
            )
            .await?;
        if rows.len() != oids.len() {
            return Err(EngineError::new(
                "a sequence was dropped while seqsync was reading; try again",
            ));
        }
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Exact states: the fast values where there is one, the relation itself read where the
    /// sequence has not been called yet.
    async fn complete_states(
        &self,
        fast: &[Option<i64>],
        names: &[(&str, &str)],
    ) -> Result<Vec<RawState>, EngineError> {
        let uncalled: Vec<usize> = (0..fast.len()).filter(|&i| fast[i].is_none()).collect();
        let uncalled_names: Vec<(&str, &str)> = uncalled.iter().map(|&i| names[i]).collect();
        let direct = self.direct_states_pipelined(&uncalled_names).await?;
        let mut states: Vec<RawState> = fast
            .iter()
            .map(|v| RawState {
                last_value: v.unwrap_or_default(),
                is_called: v.is_some(),
            })
            .collect();
        for (&i, state) in uncalled.iter().zip(direct) {
            states[i] = state;
        }
        Ok(states)
    }

    /// `last_value, is_called` of each named sequence, read from the relation, in one statement.
    async fn direct_states(&self, names: &[(&str, &str)]) -> Result<Vec<RawState>, EngineError> {
        let sql = names
            .iter()
            .enumerate()
            .map(|(i, (schema, name))| {
                format!(
                    "SELECT {i}, last_value, is_called FROM {}.{}",
                    quote_ident(schema),
                    quote_ident(name)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let messages = self
            .bounded("reading sequence values", self.client.simple_query(&sql))
            .await?;
        let mut states = vec![None; names.len()];
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                let parsed = (|| {
                    let i: usize = row.get(0)?.parse().ok()?;
                    let last_value: i64 = row.get(1)?.parse().ok()?;
                    let is_called = row.get(2)? == "t";
                    Some((
                        i,
                        RawState {
                            last_value,
                            is_called,
                        },
                    ))
                })();
                let (i, state) = parsed.ok_or_else(|| {
                    EngineError::new("unexpected answer while reading sequence values")
                })?;
                if let Some(slot) = states.get_mut(i) {
                    *slot = Some(state);
                }
            }
        }
        states
            .into_iter()
            .zip(names)
            .map(|(s, (schema, name))| {
                s.ok_or_else(|| {
                    EngineError::new(format!(
                        "sequence {} returned no value",
                        super::model::display_name(schema, name)
                    ))
                })
            })
            .collect()
    }

    /// Names and bounds of sequences by OID, as committed now.
    async fn catalogue_by_oid(&self, oids: &[u32]) -> Result<Vec<Sequence>, EngineError> {
        let rows = self
            .bounded(
                "reading destination sequences",
                self.client.query(LIVE_CATALOGUE_SQL, &[&oids]),
            )
            .await?;
        if rows.len() != oids.len() {
            return Err(EngineError::new(format!(
                "{} destination sequence(s) were dropped while seqsync was working; plan again",
                oids.len() - rows.len()
            )));
        }
        Ok(rows
            .iter()
            .zip(oids)
            .map(|(r, &oid)| Sequence {
                oid,
                schema: r.get(1),
                name: r.get(2),
                data_type: r.get(3),
                start: r.get(4),
                min: r.get(5),
                max: r.get(6),
                increment: r.get(7),
                cycle: r.get(8),
                cache: r.get(9),
                last_value: None,
                is_called: false,
                can_read: true,
                can_update: true,
                schema_usable: true,
                owned_by: None,
                origin: None,
            })
            .collect())
    }

    /// Sequences by OID with their exact state, without changing them. Inside a transaction
    /// this also locks them as `setval` would.
    async fn read_by_oid(&self, oids: &[u32]) -> Result<Vec<LiveSequence>, EngineError> {
        let fast = self.fast_values(oids).await?;
        let mut live = self.catalogue_by_oid(oids).await?;
        let names: Vec<(&str, &str)> = live
            .iter()
            .map(|l| (l.schema.as_str(), l.name.as_str()))
            .collect();
        let states = self.complete_states(&fast, &names).await?;
        for (l, s) in live.iter_mut().zip(&states) {
            l.last_value = Some(s.last_value);
            l.is_called = s.is_called;
        }
        Ok(live
            .into_iter()
            .zip(states)
            .map(|(sequence, state)| LiveSequence { sequence, state })
            .collect())
    }

    /// For each sequence that feeds a column (serial, identity), the column's largest value
    /// (smallest when the sequence descends), read only where an index makes it cheap unless
    /// `scan_unindexed`. Sequences without an owning column get `None`.
    pub async fn data_edges(
        &self,
        sequences: &[&Sequence],
        scan_unindexed: bool,
    ) -> Vec<Option<DataEdge>> {
        let mut edges: Vec<Option<DataEdge>> = vec![None; sequences.len()];
        let mut to_read: Vec<(usize, String)> = vec![];
        for (k, seq) in sequences.iter().enumerate() {
            let Some(owner) = &seq.owned_by else { continue };
            if !owner.readable {
                edges[k] = Some(DataEdge::Unreadable(format!(
                    "this role may not SELECT {}",
                    owner.qualified_column()
                )));
            } else if !owner.indexed && !scan_unindexed {
                edges[k] = Some(DataEdge::Unindexed);
            } else {
                let edge = if seq.ascending() { "max" } else { "min" };
                to_read.push((
                    k,
                    format!(
                        "(SELECT pg_catalog.{edge}({})::int8 FROM {}.{})",
                        quote_ident(&owner.column),
                        quote_ident(&owner.schema),
                        quote_ident(&owner.table)
                    ),
                ));
            }
        }
        for chunk in to_read.chunks(DATA_EDGE_CHUNK) {
            let select = |exprs: &[(usize, String)]| {
                let list: Vec<&str> = exprs.iter().map(|(_, e)| e.as_str()).collect();
                format!("SELECT {}", list.join(", "))
            };
            let sql = select(chunk);
            match self
                .bounded(
                    "reading the owning columns",
                    self.client.query_one(&sql, &[]),
                )
                .await
            {
                Ok(row) => {
                    for (j, (k, _)) in chunk.iter().enumerate() {
                        edges[*k] = Some(DataEdge::Value(row.get(j)));
                    }
                }
                // One column failed (a value beyond 64 bits, a lock): find which, one by one.
                Err(_) => {
                    for one in chunk {
                        let sql = select(std::slice::from_ref(one));
                        edges[one.0] = Some(
                            match self
                                .bounded(
                                    "reading the owning column",
                                    self.client.query_one(&sql, &[]),
                                )
                                .await
                            {
                                Ok(row) => DataEdge::Value(row.get(0)),
                                Err(e) => DataEdge::Unreadable(e.0),
                            },
                        );
                    }
                }
            }
        }
        edges
    }

    /// Why this server cannot take changes, if it cannot: a hot standby, or a session that is
    /// read-only by default.
    pub async fn read_only(&self) -> Result<Option<String>, EngineError> {
        let row = self
            .bounded(
                "checking whether the server takes changes",
                self.client.query_one(
                    "SELECT pg_catalog.pg_is_in_recovery(), \
                            pg_catalog.current_setting('transaction_read_only') = 'on'",
                    &[],
                ),
            )
            .await?;
        Ok(match (row.get::<_, bool>(0), row.get::<_, bool>(1)) {
            (true, _) => Some(format!(
                "{} is a hot standby (in recovery) and cannot take changes: connect to the primary",
                self.endpoint.display
            )),
            (false, true) => Some(format!(
                "{} is read-only for this session (default_transaction_read_only is on): \
                 turn it off for this role or database, or connect where changes are allowed",
                self.endpoint.display
            )),
            (false, false) => None,
        })
    }

    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }

    /// This connection's server process, as `pg_stat_activity` names it.
    pub async fn backend(&self) -> Result<Backend, EngineError> {
        let row = self
            .bounded(
                "reading the server process id",
                self.client.query_one(
                    "SELECT pg_backend_pid(), backend_start::text FROM pg_catalog.pg_stat_activity \
                     WHERE pid = pg_backend_pid()",
                    &[],
                ),
            )
            .await?;
        Ok(Backend {
            pid: row.get(0),
            started: row.get(1),
        })
    }

    /// Waits until `backend` (an interrupted run's) has ended: its client is gone, but it may
    /// still be running a statement whose changes would land after we looked. Asks it to end
    /// after a moment; gives up at the deadline.
    async fn wait_until_gone(
        &self,
        backend: &Backend,
        patience: Duration,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        let mut asked = false;
        loop {
            let alive = self
                .bounded(
                    "looking for the interrupted run's server process",
                    self.client.query_opt(
                        "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start::text = $2",
                        &[&backend.pid, &backend.started],
                    ),
                )
                .await?
                .is_some();
            if !alive {
                return Ok(());
            }
            if started.elapsed() >= patience {
                return Err(EngineError::new(format!(
                    "the interrupted run's server process {} on {} is still active; \
                     wait for it to end, or end it with SELECT pg_terminate_backend({}), then start again",
                    backend.pid, self.endpoint.display, backend.pid
                )));
            }
            if !asked && started.elapsed() >= Duration::from_secs(1) {
                // Its client was killed, so nothing will read its answer; refused if this role
                // may not signal it, and then we keep waiting.
                let _ = self
                    .client
                    .query_opt(
                        "SELECT pg_catalog.pg_terminate_backend($1)",
                        &[&backend.pid],
                    )
                    .await;
                asked = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The OID of each `(schema, name)`, None for a sequence that is not there.
    async fn oids_by_name(&self, names: &[(&str, &str)]) -> Result<Vec<Option<u32>>, EngineError> {
        let schemas: Vec<&str> = names.iter().map(|n| n.0).collect();
        let relnames: Vec<&str> = names.iter().map(|n| n.1).collect();
        let rows = self
            .bounded(
                "looking up destination sequences",
                self.client.query(OIDS_BY_NAME_SQL, &[&schemas, &relnames]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `nextval()` of each sequence, in order.
    async fn take_next_values(&self, oids: &[u32]) -> Result<Vec<i64>, EngineError> {
        let rows = self
            .bounded(
                "reading destination sequences",
                self.client.query(NEXTVAL_SQL, &[&oids]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A subscription of the current database, read from the catalogue columns that a
    /// non-superuser may read (never `subconninfo`).
    pub async fn subscription(&self, name: &str) -> Result<Option<SubscriptionState>, EngineError> {
        let row = self
            .bounded(
                "reading the subscription",
                self.client.query_opt(SUBSCRIPTION_SQL, &[&name]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let subid: u32 = row.get("oid");
        // pg_stat_subscription_stats appeared in PostgreSQL 15; older servers simply have no count.
        let errors = self
            .client
            .query_opt(SUBSCRIPTION_ERRORS_SQL, &[&subid])
            .await
            .ok()
            .flatten()
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        Ok(Some(SubscriptionState {
            enabled: row.get("subenabled"),
            apply_worker_running: row.get("apply_running"),
            tables: row.get("tables"),
            tables_not_ready: row.get("tables_not_ready"),
            errors,
        }))
    }

    /// Whether this connection is encrypted, as the server sees it.
    pub async fn tls_in_use(&self) -> Result<bool, EngineError> {
        let row = self
            .bounded(
                "reading the connection's TLS state",
                self.client.query_opt(
                    "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                ),
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    /// Slot names of this database's own subscriptions (they live on their publishers).
    pub async fn subscription_slots(&self) -> Result<Vec<String>, EngineError> {
        let rows = self
            .bounded(
                "reading subscriptions",
                self.client.query(SUBSCRIPTION_SLOTS_SQL, &[]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Logical replication slots of this database: where its subscribers read from.
    pub async fn logical_slots(&self) -> Result<Vec<String>, EngineError> {
        let rows = self
            .bounded(
                "reading replication slots",
                self.client.query(LOGICAL_SLOTS_SQL, &[]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn execute(&self, what: &str, sql: &str) -> Result<(), EngineError> {
        self.bounded(what, self.client.batch_execute(sql)).await
    }

    async fn set_states(&self, oids: &[u32], states: &[RawState]) -> Result<(), EngineError> {
        let values: Vec<i64> = states.iter().map(|s| s.last_value).collect();
        let called: Vec<bool> = states.iter().map(|s| s.is_called).collect();
        self.bounded(
            "setting destination sequences",
            self.client
                .query_one(SETVAL_SQL, &[&oids, &values, &called]),
        )
        .await
        .map(|_| ())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    pub allow_lower: bool,
    /// Refuse a sequence whose next value is no longer exactly the plan's "before" (an undo must
    /// not lower a sequence that has issued values since).
    pub require_unchanged: bool,
    pub batch_size: usize,
    /// How long to keep trying to restore touched sequences after a failure.
    pub rollback_deadline: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            allow_lower: false,
            require_unchanged: false,
            batch_size: DEFAULT_APPLY_BATCH,
            rollback_deadline: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyFailure {
    /// The apply failed and the destination holds no value of this run.
    RolledBack { reason: String },
    /// The apply failed and some sequences could not be restored: they are listed.
    Incomplete {
        reason: String,
        not_restored: Vec<String>,
    },
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyFailure::RolledBack { reason } => {
                write!(f, "{reason}; nothing was applied")
            }
            ApplyFailure::Incomplete {
                reason,
                not_restored,
            } => write!(
                f,
                "{reason}; the rollback could not restore {} sequence(s), which keep their new values: {}",
                not_restored.len(),
                not_restored.join(", ")
            ),
        }
    }
}

/// A sequence this run has (or may have) set, with what to restore.
struct Touched {
    oid: u32,
    name: String,
    before: RawState,
    set_to: RawState,
}

/// What an apply reports to, and listens to, while it runs.
pub struct ApplyHooks<'a> {
    pub progress: &'a (dyn Fn(ApplyProgress) + Sync),
    /// Makes a batch's exact before-states durable (the journal) before the batch is set, so a
    /// killed run can be restored to them; an error stops the apply before the batch changes.
    pub record: &'a (dyn Fn(&[Locked]) -> Result<(), String> + Sync),
    pub cancel: &'a AtomicBool,
}

pub struct ApplyProgress {
    pub done: usize,
    pub total: usize,
}

/// Applies every `update` row of the plan, all or nothing (see the module comment), then reads
/// the destination back: `update` rows become `updated` and every row's `destination_after`
/// holds what was read. `session`, the connection the plan was read on, is reused while it is
/// open: its backend has every sequence in its relation cache already.
pub async fn apply(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    session: Option<PgSession>,
    rows: &mut [PlanRow],
    options: &ApplyOptions,
    hooks: &ApplyHooks<'_>,
) -> Result<(), ApplyFailure> {
    let to_apply: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].status == RowStatus::Update)
        .collect();
    let session = match session.filter(|s| !s.client.is_closed()) {
        Some(s) => s,
        None => endpoint
            .connect(timeouts)
            .await
            .map_err(|e| ApplyFailure::RolledBack { reason: e.0 })?,
    };
    let mut touched: Vec<Touched> = Vec::with_capacity(to_apply.len());
    let outcome = apply_batches(&session, rows, &to_apply, options, hooks, &mut touched).await;
    if let Err(reason) = outcome {
        drop(session);
        return Err(roll_back(endpoint, timeouts, options, touched, reason.0).await);
    }
    read_back(&session, rows).await;
    Ok(())
}

async fn apply_batches(
    session: &PgSession,
    rows: &mut [PlanRow],
    to_apply: &[usize],
    options: &ApplyOptions,
    hooks: &ApplyHooks<'_>,
    touched: &mut Vec<Touched>,
) -> Result<(), EngineError> {
    let ApplyHooks {
        progress,
        record,
        cancel,
    } = hooks;
    let total = to_apply.len();
    progress(ApplyProgress { done: 0, total });
    let batch_size = options.batch_size.max(1);
    for (batch_no, batch) in to_apply.chunks(batch_size).enumerate() {
        if cancel.load(Ordering::SeqCst) {
            return Err(EngineError::new("cancelled by the operator"));
        }
        let oids: Vec<u32> = batch
            .iter()
            .map(|&i| {
                rows[i]
                    .destination_oid
                    .expect("update rows come from a destination sequence")
            })
            .collect();
        session
            .execute(
                "starting a transaction",
                "BEGIN ISOLATION LEVEL READ COMMITTED",
            )
            .await?;
        // Locks the batch as setval would, so a conflicting session makes lock_timeout fire
        // before anything in the batch changes.
        let called = session.fast_values(&oids).await?;
        let mut live = session.catalogue_by_oid(&oids).await?;
        let renamed: Vec<String> = batch
            .iter()
            .zip(&live)
            .filter(|(&i, l)| {
                (l.schema.as_str(), l.name.as_str())
                    != (rows[i].schema.as_str(), rows[i].name.as_str())
            })
            .map(|(&i, l)| {
                format!(
                    "{}: renamed to {}",
                    rows[i].qualified_name(),
                    l.qualified_name()
                )
            })
            .collect();
        if !renamed.is_empty() {
            let _ = session.execute("rolling back", "ROLLBACK").await;
            return Err(EngineError::new(format!(
                "the destination changed since the plan ({}); plan again",
                renamed.join("; ")
            )));
        }
        let first_touched = touched.len();
        let uncalled: Vec<usize> = (0..batch.len()).filter(|&k| called[k].is_none()).collect();
        if !uncalled.is_empty() {
            // PostgreSQL 15 cannot read a sequence that was never called except by querying its
            // relation (about 20-40 µs each, see DIRECT_CHUNK); nextval() returns exactly that
            // last_value in microseconds. It marks the sequence called, which we are about to
            // change anyway, so it is recorded as touched first and restored on rollback.
            for &k in &uncalled {
                let planned = RawState {
                    last_value: rows[batch[k]].destination_before.unwrap_or_default(),
                    is_called: false,
                };
                touched.push(Touched {
                    oid: oids[k],
                    name: rows[batch[k]].qualified_name(),
                    before: planned,
                    set_to: RawState {
                        is_called: true,
                        ..planned
                    },
                });
            }
            let uncalled_oids: Vec<u32> = uncalled.iter().map(|&k| oids[k]).collect();
            let values = session.take_next_values(&uncalled_oids).await?;
            for (t, value) in touched[first_touched..].iter_mut().zip(values) {
                t.before = RawState {
                    last_value: value,
                    is_called: false,
                };
                t.set_to = RawState {
                    last_value: value,
                    is_called: true,
                };
            }
        }
        let mut states = vec![None; batch.len()];
        for (k, value) in called.iter().enumerate() {
            if let Some(v) = value {
                states[k] = Some(RawState {
                    last_value: *v,
                    is_called: true,
                });
            }
        }
        for (t, &k) in touched[first_touched..].iter().zip(&uncalled) {
            states[k] = Some(t.before);
        }
        let mut drifted = vec![];
        let mut targets = Vec::with_capacity(batch.len());
        for (k, &i) in batch.iter().enumerate() {
            let state = states[k].expect("every sequence of the batch was read");
            live[k].last_value = Some(state.last_value);
            live[k].is_called = state.is_called;
            let target = rows[i].target.expect("update rows have a target");
            let unchanged = options
                .require_unchanged
                .then_some(rows[i].destination_before);
            if let Err(why) = recheck(&live[k], target, options.allow_lower, unchanged) {
                drifted.push(format!("{}: {why}", rows[i].qualified_name()));
            }
            targets.push(state_for_next(&live[k], target));
        }
        if !drifted.is_empty() {
            let _ = session.execute("rolling back", "ROLLBACK").await;
            return Err(EngineError::new(format!(
                "the destination changed since the plan ({}); plan again",
                drifted.join("; ")
            )));
        }
        for (t, &k) in touched[first_touched..].iter_mut().zip(&uncalled) {
            t.set_to = targets[k];
        }
        for (k, &i) in batch.iter().enumerate() {
            rows[i].destination_before = live[k].next_display();
            if called[k].is_some() {
                touched.push(Touched {
                    oid: oids[k],
                    name: rows[i].qualified_name(),
                    before: states[k].expect("read"),
                    set_to: targets[k],
                });
            }
        }
        let locked: Vec<Locked> = batch
            .iter()
            .zip(&states)
            .map(|(&i, state)| Locked {
                schema: rows[i].schema.clone(),
                name: rows[i].name.clone(),
                state: state.expect("read"),
            })
            .collect();
        if let Err(e) = record(&locked) {
            let _ = session.execute("rolling back", "ROLLBACK").await;
            return Err(EngineError::new(e));
        }
        session.set_states(&oids, &targets).await?;
        session.execute("committing", "COMMIT").await?;
        progress(ApplyProgress {
            done: (batch_no * batch_size + batch.len()).min(total),
            total,
        });
    }
    Ok(())
}

/// Re-checks a planned target against the destination as it is now, under lock.
fn recheck(
    now: &Sequence,
    target: i64,
    allow_lower: bool,
    expected_next: Option<Option<i64>>,
) -> Result<(), String> {
    if let Some(expected) = expected_next {
        if now.next_display() != expected {
            return Err(format!(
                "it has issued values since (next value now {}, expected {})",
                shown(now.next_display()),
                shown(expected)
            ));
        }
    }
    if target < now.min || target > now.max {
        return Err(format!(
            "target {target} is now outside its range {}..{}",
            now.min, now.max
        ));
    }
    let position = now.next_position().expect("read under lock");
    let past = if now.ascending() {
        position > target as i128
    } else {
        position < target as i128
    };
    if past && !allow_lower {
        return Err(format!(
            "it has moved past the target {target} (next value now {})",
            shown(now.next_display())
        ));
    }
    Ok(())
}

fn shown(next: Option<i64>) -> String {
    next.map_or("exhausted".to_string(), |v| v.to_string())
}

/// What an interrupted run left in the destination, once settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Every sequence of the run holds its target: it was killed after its last batch.
    AppliedInFull { sequences: usize },
    /// No sequence holds a value of the run.
    NotApplied,
    /// Some did; they were restored, so nothing of the run remains.
    RolledBack { restored: usize, of: usize },
    /// Some hold the run's values and have issued ids since, so they were not lowered.
    Incomplete {
        reason: String,
        not_restored: Vec<String>,
    },
}

/// Settles a run whose apply was interrupted (the process was killed): reads the destination
/// and, when only some of the run's sequences hold its targets, restores those exactly as the
/// live rollback would, so the run ends applied in full or not at all. `rows` are the run's
/// write-ahead plan; their `destination_after` is filled with what was found.
pub async fn recover(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    backend: Option<&Backend>,
    locked: &[Locked],
    rows: &mut [PlanRow],
) -> Result<Recovery, EngineError> {
    let locked: std::collections::HashMap<(&str, &str), RawState> = locked
        .iter()
        .map(|l| ((l.schema.as_str(), l.name.as_str()), l.state))
        .collect();
    let session = endpoint.connect(timeouts).await?;
    if let Some(backend) = backend {
        session
            .wait_until_gone(
                backend,
                timeouts.statement.max(timeouts.lock) + CLIENT_GRACE,
            )
            .await?;
    }
    let planned: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].status == RowStatus::Update && rows[i].target.is_some())
        .collect();
    let names: Vec<(&str, &str)> = planned
        .iter()
        .map(|&i| (rows[i].schema.as_str(), rows[i].name.as_str()))
        .collect();
    let mut oids = vec![];
    for chunk in names.chunks(READ_CHUNK) {
        oids.extend(session.oids_by_name(chunk).await?);
    }
    let present: Vec<(usize, u32)> = planned
        .iter()
        .zip(&oids)
        .filter_map(|(&i, oid)| oid.map(|o| (i, o)))
        .collect();
    let mut ours: Vec<Touched> = vec![];
    // Never-called sequences of a locked batch that our under-lock nextval() read and nothing
    // used since (anyone else's nextval would have moved them further): not applied, but put
    // back exactly.
    let mut read_only: Vec<Touched> = vec![];
    // Sequences at or past the target that do not hold exactly our state: set by us and used
    // since, or moved there by someone else; either way they must not be lowered.
    let mut kept: Vec<String> = vec![];
    let mut not_applied = planned.len() - present.len();
    for chunk in present.chunks(READ_CHUNK) {
        let chunk_oids: Vec<u32> = chunk.iter().map(|&(_, o)| o).collect();
        let live = session.read_by_oid(&chunk_oids).await?;
        for (&(i, oid), l) in chunk.iter().zip(&live) {
            let row = &mut rows[i];
            row.destination_after = l.sequence.next_display();
            let target = row.target.expect("filtered");
            let set_to = state_for_next(&l.sequence, target);
            let position = l.sequence.next_position();
            // Only a batch that was journaled as locked can have been set; its exact state
            // under the lock is what the run replaced.
            let locked_before = locked.get(&(row.schema.as_str(), row.name.as_str()));
            let before = match locked_before {
                Some(state) => Some(if state.is_called {
                    state.last_value as i128 + l.sequence.increment as i128
                } else {
                    state.last_value as i128
                }),
                None => row.destination_before.map(i128::from),
            };
            let our_read = locked_before.filter(|b| !b.is_called).map(|b| RawState {
                is_called: true,
                ..*b
            });
            if l.state == set_to {
                match locked_before {
                    Some(&before) => ours.push(Touched {
                        oid,
                        name: row.qualified_name(),
                        before,
                        set_to,
                    }),
                    None => kept.push(row.qualified_name()),
                }
            } else if Some(l.state) == our_read {
                read_only.push(Touched {
                    oid,
                    name: row.qualified_name(),
                    before: *locked_before.expect("our_read comes from it"),
                    set_to: l.state,
                });
            } else if position == before {
                not_applied += 1;
            } else {
                let past = position.is_some_and(|p| {
                    if l.sequence.ascending() {
                        p > target as i128
                    } else {
                        p < target as i128
                    }
                });
                if past {
                    kept.push(row.qualified_name());
                } else {
                    not_applied += 1;
                }
            }
        }
    }
    drop(session);
    let applied_any = !ours.is_empty() || !kept.is_empty();
    if applied_any && not_applied == 0 && read_only.is_empty() {
        return Ok(Recovery::AppliedInFull {
            sequences: planned.len(),
        });
    }
    if ours.is_empty() && kept.is_empty() && read_only.is_empty() {
        return Ok(Recovery::NotApplied);
    }
    let restored = ours.len();
    let reason = "the run was interrupted part-way".to_string();
    ours.extend(read_only);
    match roll_back(endpoint, timeouts, options, ours, reason.clone()).await {
        ApplyFailure::RolledBack { .. } if !applied_any => Ok(Recovery::NotApplied),
        ApplyFailure::RolledBack { .. } if kept.is_empty() => Ok(Recovery::RolledBack {
            restored,
            of: planned.len(),
        }),
        ApplyFailure::RolledBack { .. } => Ok(Recovery::Incomplete {
            reason: format!("{reason}; sequences that have issued values since are not lowered"),
            not_restored: kept,
        }),
        ApplyFailure::Incomplete {
            reason,
            mut not_restored,
        } => {
            not_restored.extend(kept);
            Ok(Recovery::Incomplete {
                reason,
                not_restored,
            })
        }
    }
}

/// The state whose next `nextval()` returns `target`. Stored as "called" with the value before
/// it where the bounds allow, because PostgreSQL 15 reads a called sequence about ten times
/// faster (`pg_sequence_last_value`) than one not yet called: later plans and the read-back stay
/// fast.
fn state_for_next(s: &Sequence, target: i64) -> RawState {
    match target.checked_sub(s.increment) {
        Some(previous) if previous >= s.min && previous <= s.max => RawState {
            last_value: previous,
            is_called: true,
        },
        _ => RawState {
            last_value: target,
            is_called: false,
        },
    }
}

/// Restores every touched sequence that still holds what we set, retrying on fresh connections
/// until the deadline (the destination may be restarting).
async fn roll_back(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    touched: Vec<Touched>,
    reason: String,
) -> ApplyFailure {
    if touched.is_empty() {
        return ApplyFailure::RolledBack { reason };
    }
    let deadline = Instant::now() + options.rollback_deadline;
    let last_error = loop {
        match restore(endpoint, timeouts, options, &touched).await {
            Ok(conflicts) if conflicts.is_empty() => return ApplyFailure::RolledBack { reason },
            Ok(conflicts) => {
                return ApplyFailure::Incomplete {
                    reason: format!(
                        "{reason}; sequences used by another session since seqsync set them are not lowered"
                    ),
                    not_restored: conflicts,
                }
            }
            Err(e) if Instant::now() >= deadline => break e.0,
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    ApplyFailure::Incomplete {
        reason: format!("{reason}; then the rollback failed: {last_error}"),
        not_restored: touched.iter().map(|t| t.name.clone()).collect(),
    }
}

/// One attempt at restoring. Idempotent: a sequence already back at its before state is skipped.
/// Returns the sequences that hold neither our value nor their old one.
async fn restore(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    touched: &[Touched],
) -> Result<Vec<String>, EngineError> {
    let session = endpoint.connect(timeouts).await?;
    let mut conflicts = vec![];
    for chunk in touched.chunks(options.batch_size.max(1)) {
        let oids: Vec<u32> = chunk.iter().map(|t| t.oid).collect();
        session
            .execute(
                "starting the rollback",
                "BEGIN ISOLATION LEVEL READ COMMITTED",
            )
            .await?;
        let live = session.read_by_oid(&oids).await?;
        let mut restore_oids = vec![];
        let mut restore_states = vec![];
        for (t, l) in chunk.iter().zip(&live) {
            if l.state == t.set_to {
                restore_oids.push(t.oid);
                restore_states.push(t.before);
            } else if l.state != t.before {
                conflicts.push(t.name.clone());
            }
        }
        if !restore_oids.is_empty() {
            session.set_states(&restore_oids, &restore_states).await?;
        }
        session.execute("committing the rollback", "COMMIT").await?;
    }
    Ok(conflicts)
}

/// Fills `destination_after` from what the destination holds now. A failed read leaves the
/// column empty and says so; the apply itself has succeeded by then.
async fn read_back(session: &PgSession, rows: &mut [PlanRow]) {
    let with_destination: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].destination_oid.is_some())
        .collect();
    let mut after = Vec::with_capacity(with_destination.len());
    for chunk in with_destination.chunks(READ_CHUNK) {
        let oids: Vec<u32> = chunk
            .iter()
            .filter_map(|&i| rows[i].destination_oid)
            .collect();
        match session.read_by_oid(&oids).await {
            Ok(live) => after.extend(live.iter().map(|l| l.sequence.next_display())),
            Err(e) => {
                for row in rows.iter_mut().filter(|r| r.status == RowStatus::Update) {
                    row.status = RowStatus::Updated;
                    row.message = format!("applied, but reading back failed: {e}");
                }
                return;
            }
        }
    }
    for (&i, value) in with_destination.iter().zip(after) {
        let row = &mut rows[i];
        row.destination_after = value;
        if row.status == RowStatus::Update {
            row.status = RowStatus::Updated;
            if value != row.target {
                row.message = "the destination has been used since it was set".to_string();
            }
        }
    }
    for row in rows.iter_mut().filter(|r| r.status == RowStatus::Update) {
        row.status = RowStatus::Updated;
    }
}

/// An error as an operator reads it: the server's message, detail and hint, or the cause chain.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_string();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        text.push_str(&format!(" [SQLSTATE {}]", db.code().code()));
        text
    } else {
        error_chain(e)
    }
}

fn describe_with_timeouts(e: &tokio_postgres::Error, timeouts: &Timeouts) -> String {
    let base = describe(e);
    match e.code().map(|c| c.code()) {
        Some("55P03") => format!(
            "{base}: another session holds a lock on a destination sequence longer than lock_timeout ({})",
            humantime::format_duration(timeouts.lock)
        ),
        Some("57014") => format!(
            "{base}: statement_timeout ({}) reached",
            humantime::format_duration(timeouts.statement)
        ),
        Some("25006") => format!("{base}: {READ_ONLY_HINT}"),
        Some("57P01") | Some("57P02") | Some("57P03") => {
            format!("{base}: the server ended the session")
        }
        _ if e.is_closed() => format!("{base}: the connection was lost"),
        _ => base,
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
        assert!(err.0.contains("invalid connection string"), "{err}");
        assert!(!err.0.contains("hunter22"), "{err}");
    }

    #[test]
    fn recheck_refuses_drift_past_target_and_new_bounds() {
        let mut s = Sequence {
            oid: 1,
            schema: "s".into(),
            name: "n".into(),
            data_type: "bigint".into(),
            start: 1,
            min: 1,
            max: 100,
            increment: 1,
            cycle: false,
            cache: 1,
            last_value: Some(10),
            is_called: true,
            can_read: true,
            can_update: true,
            schema_usable: true,
            owned_by: None,
            origin: None,
        };
        assert!(recheck(&s, 50, false, None).is_ok());
        assert!(recheck(&s, 500, false, None)
            .unwrap_err()
            .contains("outside"));
        s.last_value = Some(60);
        assert!(recheck(&s, 50, false, None)
            .unwrap_err()
            .contains("past the target"));
        assert!(recheck(&s, 50, true, None).is_ok());
        // An undo lowers only a sequence still exactly where the run left it.
        assert!(recheck(&s, 5, true, Some(Some(61))).is_ok());
        assert!(recheck(&s, 5, true, Some(Some(60)))
            .unwrap_err()
            .contains("issued values since (next value now 61, expected 60)"));
    }
}
