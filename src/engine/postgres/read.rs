//! Reading sequences: the catalogue (names, bounds, privileges, owning columns) and the values,
//! fast where PostgreSQL has a function for it and from the relation where it has none; and the
//! owning columns' data edges for the behind-data check.

use super::catalogue::{catalogue_sql, sequence_of, CatalogueColumns};
use super::endpoint::PgSession;
use crate::engine::model::{quote_ident, type_name, RawState, Sequence};
use crate::engine::Error;
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::SimpleQueryMessage;

/// Sequences per value-reading statement. `pg_sequence_last_value` keeps a lock per sequence to
/// the end of the statement's transaction, so plan reads stay well inside the lock budget.
pub(super) const READ_CHUNK: usize = 2_000;

/// Value-reading statements on the connection at once: one running, the next queued.
const VALUE_PIPELINE: usize = 2;

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

/// A sequence read by OID under the caller's locks.
#[derive(Debug, Clone)]
pub(super) struct LiveSequence {
    pub(super) sequence: Sequence,
    pub(super) state: RawState,
}

/// `last_value, is_called` of sequences by OID, in order (PostgreSQL 18); NULLs where the
/// server has no value.
const SEQUENCE_DATA_SQL: &str = "SELECT d.last_value, d.is_called \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) \
     LEFT JOIN LATERAL pg_catalog.pg_get_sequence_data(u.o::regclass) d ON true ORDER BY u.i";

/// Names and bounds of sequences by OID, in no particular order. `= ANY` rather than a join
/// over `unnest`: the planner hashes the set instead of probing three indexes per sequence,
/// about half the time at an apply batch's 2,500.
pub(super) const LIVE_CATALOGUE_SQL: &str = r#"
SELECT c.oid, n.nspname, c.relname, format_type(s.seqtypid, NULL),
       s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle, s.seqcache
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
WHERE c.oid = ANY($1::oid[]) AND c.relkind = 'S'
"#;

/// `last_value` of every called sequence (NULL for one not yet called), about 2.5 µs each.
/// It takes the lock `setval` takes (RowExclusiveLock, held to the end of the transaction), so
/// inside an apply transaction it also locks the batch before anything changes.
pub(super) const FAST_VALUES_SQL: &str = "SELECT pg_catalog.pg_sequence_last_value(u.o) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) ORDER BY u.i";

/// PostgreSQL 18: the lock `setval` takes, and the exact state of each sequence never called,
/// in one statement: a called sequence's `last_value` is its exact state already, so its data
/// is not read a second time (the gate is a one-time filter: `pg_get_sequence_data` runs only
/// where `pg_sequence_last_value` gave NULL; OFFSET 0 keeps the planner from turning it into a
/// join filter evaluated after the call). Each sequence's page is read while it is in shared
/// buffers, which matters at 100,000 sequences, where they no longer fit in a default
/// shared_buffers and every extra pass is I/O.
pub(super) const LOCK_AND_DATA_SQL: &str = "SELECT l.v, d.last_value, d.is_called \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) \
     CROSS JOIN LATERAL (SELECT pg_catalog.pg_sequence_last_value(u.o) AS v) l \
     LEFT JOIN LATERAL (SELECT g.last_value, g.is_called \
                        FROM pg_catalog.pg_get_sequence_data(u.o::regclass) g \
                        WHERE l.v IS NULL OFFSET 0) d ON true \
     ORDER BY u.i";

/// Sequences by name, in order; NULL where there is no such sequence any more.
const OIDS_BY_NAME_SQL: &str = "SELECT c.oid \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, n, i) \
     LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s \
     LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n AND c.relkind = 'S' \
     ORDER BY u.i";

const NEXTVAL_SQL: &str = "SELECT pg_catalog.nextval(u.o::regclass) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) ORDER BY u.i";

impl PgSession {
    /// Every user sequence of the database: one catalogue query for metadata and privileges,
    /// then the values of the readable ones, a chunk of sequences per statement.
    pub async fn read_sequences(&self) -> Result<Vec<Sequence>, Error> {
        // Streamed: each row becomes a `Sequence` as it arrives, so 100,000 rows are never
        // held twice (the driver's row buffers beside what we keep of them).
        let sql = catalogue_sql(self.reads_sequence_data());
        let mut sequences = self
            .bounded("reading the sequence catalogue", async {
                let stream = self
                    .client
                    .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
                    .await?;
                futures_util::pin_mut!(stream);
                let mut sequences = vec![];
                let mut columns = None;
                while let Some(row) = stream.try_next().await? {
                    let at = match &columns {
                        Some(at) => at,
                        None => columns.insert(CatalogueColumns::of(&row)),
                    };
                    sequences.push(sequence_of(&row, at));
                }
                sequences.shrink_to_fit();
                Ok(sequences)
            })
            .await?;
        self.attach_defaults(&mut sequences).await?;
        if self.reads_sequence_data() {
            // The catalogue query read every value already.
            for seq in sequences.iter_mut() {
                if seq.can_read && seq.unavailable().is_none() && seq.last_value.is_none() {
                    seq.extras_mut().unavailable =
                        Some("the server returned no value for it".into());
                }
            }
            return Ok(sequences);
        }
        let readable: Vec<usize> = (0..sequences.len())
            .filter(|&i| sequences[i].can_read && sequences[i].unavailable().is_none())
            .collect();
        let chunk_oids: Vec<Vec<u32>> = readable
            .chunks(READ_CHUNK)
            .map(|chunk| chunk.iter().map(|&i| sequences[i].oid).collect())
            .collect();
        // The next chunk's statement waits on the connection while one runs, so the server
        // goes from one to the next without a round trip between; each still runs, and lets
        // its locks go, on its own.
        let reads: Vec<_> = chunk_oids
            .iter()
            .map(|oids| self.fast_values(oids))
            .collect();
        let values: Vec<Vec<Option<i64>>> = stream::iter(reads)
            .buffered(VALUE_PIPELINE)
            .try_collect()
            .await?;
        let mut uncalled = vec![];
        for (chunk, values) in readable.chunks(READ_CHUNK).zip(values) {
            for (&i, value) in chunk.iter().zip(values) {
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
    async fn direct_states_parallel(&self, names: &[(&str, &str)]) -> Result<Vec<RawState>, Error> {
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
    ) -> Result<Vec<RawState>, Error> {
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
    pub async fn count_sequences(&self) -> Result<usize, Error> {
        let row = self
            .bounded(
                "counting sequences",
                self.client.query_one(
                    &format!("SELECT count(*) FROM ({}) catalogue", catalogue_sql(false)),
                    &[],
                ),
            )
            .await?;
        Ok(row.get::<_, i64>(0) as usize)
    }

    /// `last_value` of each called sequence, None for one not yet called. Inside a transaction
    /// this also locks each sequence as `setval` would.
    pub(super) async fn fast_values(&self, oids: &[u32]) -> Result<Vec<Option<i64>>, Error> {
        let rows = self
            .bounded(
                "reading sequence values",
                self.client.query(FAST_VALUES_SQL, &[&oids]),
            )
            .await?;
        if rows.len() != oids.len() {
            return Err(Error::failed(
                "a sequence was dropped while seqsync was reading; try again",
            ));
        }
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `fast_values` and, where PostgreSQL 18 can read it, the exact state of each sequence never
    /// called, in one statement; called ones and older servers give `None` states (a called
    /// sequence's value is its state; read the others with `uncalled_states`).
    pub(super) async fn lock_and_read(
        &self,
        oids: &[u32],
    ) -> Result<(Vec<Option<i64>>, Vec<Option<RawState>>), Error> {
        let lock = &self.apply_statements().await?.lock;
        let rows = self
            .bounded("reading sequence values", self.client.query(lock, &[&oids]))
            .await?;
        if rows.len() != oids.len() {
            return Err(Error::failed(
                "a sequence was dropped while seqsync was reading; try again",
            ));
        }
        let values = rows.iter().map(|r| r.get(0)).collect();
        if !self.reads_sequence_data() {
            return Ok((values, vec![None; oids.len()]));
        }
        let states = rows
            .iter()
            .map(
                |r| match (r.get::<_, Option<i64>>(1), r.get::<_, Option<bool>>(2)) {
                    (Some(last_value), Some(is_called)) => Some(RawState {
                        last_value,
                        is_called,
                    }),
                    _ => None,
                },
            )
            .collect();
        Ok((values, states))
    }

    /// Exact states of sequences that `pg_sequence_last_value` found never called: one query
    /// on PostgreSQL 18, the relations themselves on older servers.
    pub(super) async fn uncalled_states(
        &self,
        oids: &[u32],
        names: &[(&str, &str)],
    ) -> Result<Vec<RawState>, Error> {
        if !self.reads_sequence_data() {
            return self.direct_states_pipelined(names).await;
        }
        let rows = self
            .bounded(
                "reading sequence values",
                self.client.query(SEQUENCE_DATA_SQL, &[&oids]),
            )
            .await?;
        rows.iter()
            .zip(names)
            .map(|(r, (schema, name))| {
                match (r.get::<_, Option<i64>>(0), r.get::<_, Option<bool>>(1)) {
                    (Some(last_value), Some(is_called)) => Ok(RawState {
                        last_value,
                        is_called,
                    }),
                    _ => Err(Error::failed(format!(
                        "sequence {} returned no value",
                        crate::engine::model::display_name(schema, name)
                    ))),
                }
            })
            .collect()
    }

    /// Exact states: the fast values where there is one, the relation itself read where the
    /// sequence has not been called yet.
    async fn complete_states(
        &self,
        fast: &[Option<i64>],
        oids: &[u32],
        names: &[(&str, &str)],
    ) -> Result<Vec<RawState>, Error> {
        let uncalled: Vec<usize> = (0..fast.len()).filter(|&i| fast[i].is_none()).collect();
        let uncalled_oids: Vec<u32> = uncalled.iter().map(|&i| oids[i]).collect();
        let uncalled_names: Vec<(&str, &str)> = uncalled.iter().map(|&i| names[i]).collect();
        let direct = self
            .uncalled_states(&uncalled_oids, &uncalled_names)
            .await?;
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
    async fn direct_states(&self, names: &[(&str, &str)]) -> Result<Vec<RawState>, Error> {
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
                    Error::failed("unexpected answer while reading sequence values")
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
                    Error::failed(format!(
                        "sequence {} returned no value",
                        crate::engine::model::display_name(schema, name)
                    ))
                })
            })
            .collect()
    }

    /// Names and bounds of sequences by OID, in the order asked, as committed now.
    pub(super) async fn catalogue_by_oid(&self, oids: &[u32]) -> Result<Vec<Sequence>, Error> {
        let live_catalogue = &self.apply_statements().await?.live_catalogue;
        let rows = self
            .bounded(
                "reading destination sequences",
                self.client.query(live_catalogue, &[&oids]),
            )
            .await?;
        let mut found: HashMap<u32, Sequence> = rows
            .iter()
            .map(|r| {
                let oid: u32 = r.get(0);
                let sequence = Sequence {
                    oid,
                    schema: r.get::<_, &str>(1).into(),
                    name: r.get::<_, &str>(2).into(),
                    data_type: type_name(r.get(3)),
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
                    unlogged: false,
                    extras: None,
                };
                (oid, sequence)
            })
            .collect();
        // Taken out of the map, not cloned: callers ask for each OID once.
        let in_order: Vec<Sequence> = oids.iter().filter_map(|o| found.remove(o)).collect();
        if in_order.len() != oids.len() {
            return Err(Error::failed(format!(
                "{} destination sequence(s) were dropped while seqsync was working; plan again",
                oids.len() - in_order.len()
            )));
        }
        Ok(in_order)
    }

    /// Sequences by OID with their exact state, without changing them. Inside a transaction
    /// this also locks them as `setval` would.
    pub(super) async fn read_by_oid(&self, oids: &[u32]) -> Result<Vec<LiveSequence>, Error> {
        let fast = self.fast_values(oids).await?;
        let mut live = self.catalogue_by_oid(oids).await?;
        let names: Vec<(&str, &str)> = live
            .iter()
            .map(|l| (l.schema.as_str(), l.name.as_str()))
            .collect();
        let states = self.complete_states(&fast, oids, &names).await?;
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

    /// The OID of each `(schema, name)`, None for a sequence that is not there.
    pub(super) async fn oids_by_name(
        &self,
        names: &[(&str, &str)],
    ) -> Result<Vec<Option<u32>>, Error> {
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
    pub(super) async fn take_next_values(&self, oids: &[u32]) -> Result<Vec<i64>, Error> {
        let rows = self
            .bounded(
                "reading destination sequences",
                self.client.query(NEXTVAL_SQL, &[&oids]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
