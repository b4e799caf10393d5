//! What lets a watch's idle round skip the full read: a fingerprint of everything the plan
//! reads from a side besides the values (the catalogue query's rows as the server computes
//! them — names, bounds, privileges, owners, identity, indexes, recovery —, the column defaults
//! that name sequences, and each sequence's relation file), and the values alone in one
//! statement that returns one row. When both sides' fingerprints and values are what the last
//! full round read, that round's plan is still the plan, and nothing needs applying.
//!
//! What this cannot see: a never-called sequence set to another never-called state
//! (`setval(s, v, false)`) on a server before 18, where only the relation holds it. A watch
//! therefore reads in full at least every few rounds anyway (`engine::run::watch`).

use super::edges::DEFAULTS_SQL;
use super::endpoint::PgSession;
use super::read::catalogue_sql;
use crate::engine::model::{RawState, Sequence};
use crate::engine::Error;

/// A side's catalogue, as a count and a hash; equal when nothing the plan reads has changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    rows: i64,
    hash: i64,
}

const QUICK_VALUES_SQL: &str =
    "SELECT array_agg(pg_catalog.pg_sequence_last_value(u.o) ORDER BY u.i) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i)";

const QUICK_DATA_SQL: &str =
    "SELECT array_agg(d.last_value ORDER BY u.i), array_agg(d.is_called ORDER BY u.i) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) \
     LEFT JOIN LATERAL pg_catalog.pg_get_sequence_data(u.o::regclass) d ON true";

impl PgSession {
    /// This side's fingerprint: three sums of row hashes, computed by the server.
    pub async fn fingerprint(&self) -> Result<Fingerprint, Error> {
        let sql = format!(
            "SELECT (SELECT count(*) FROM ({catalogue}) x), \
             (SELECT coalesce(sum(hashtext(x::text)), 0) FROM ({catalogue}) x) \
             + (SELECT coalesce(sum(hashtext(d::text)), 0) FROM ({DEFAULTS_SQL}) d) \
             + (SELECT coalesce(sum(hashtext(c.oid::text || ':' || c.relfilenode::text)), 0) \
                FROM pg_catalog.pg_class c WHERE c.relkind = 'S')",
            catalogue = catalogue_sql(false)
        );
        let row = self
            .bounded(
                "reading the catalogue's fingerprint",
                self.client.query_one(&sql, &[]),
            )
            .await?;
        Ok(Fingerprint {
            rows: row.get(0),
            hash: row.get(1),
        })
    }

    /// The quick state of each sequence (see [`quick_state`]), in one statement.
    pub async fn quick_states(&self, oids: &[u32]) -> Result<Vec<Option<RawState>>, Error> {
        if oids.is_empty() {
            return Ok(vec![]);
        }
        if self.reads_sequence_data() {
            let row = self
                .bounded(
                    "reading sequence values",
                    self.client.query_one(QUICK_DATA_SQL, &[&oids]),
                )
                .await?;
            let values: Vec<Option<i64>> = row.get(0);
            let called: Vec<Option<bool>> = row.get(1);
            return Ok(values
                .into_iter()
                .zip(called)
                .map(|(v, c)| {
                    Some(RawState {
                        last_value: v?,
                        is_called: c?,
                    })
                })
                .collect());
        }
        let row = self
            .bounded(
                "reading sequence values",
                self.client.query_one(QUICK_VALUES_SQL, &[&oids]),
            )
            .await?;
        let values: Vec<Option<i64>> = row.get(0);
        Ok(values
            .into_iter()
            .map(|v| {
                v.map(|last_value| RawState {
                    last_value,
                    is_called: true,
                })
            })
            .collect())
    }

    /// Whether `quick_states` reads exact states here (PostgreSQL 18).
    pub fn quick_is_exact(&self) -> bool {
        self.reads_sequence_data()
    }
}

/// What `quick_states` returns for a sequence a full read found in `seq`'s state: the exact
/// state on PostgreSQL 18; before it, the value of a called sequence and None for one never
/// called (its state lives only in its relation).
pub fn quick_state(seq: &Sequence, exact: bool) -> Option<RawState> {
    let last_value = seq.last_value?;
    (exact || seq.is_called).then_some(RawState {
        last_value,
        is_called: seq.is_called,
    })
}

/// The sequences a quick read covers: those the full read read a value of.
pub fn quick_oids(sequences: &[Sequence]) -> Vec<u32> {
    sequences
        .iter()
        .filter(|s| s.can_read && s.unavailable.is_none() && s.last_value.is_some())
        .map(|s| s.oid)
        .collect()
}
