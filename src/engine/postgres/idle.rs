//! What lets a watch's idle round skip the full read: a fingerprint of the catalogue rows the
//! plan reads (a count and a sum of the transaction ids that last wrote them: any rename,
//! `ALTER SEQUENCE`, grant, new owner, index, default or role membership writes a new row
//! version), and the values alone, in one row. When both sides' fingerprints and values are
//! what the last full round read, that round's plan is still the plan, and nothing needs
//! applying. Row hashes would be exact but cost more than the read they save (record-to-text
//! over 10,000 rows is about 90 ms on PostgreSQL 15; this is about 18 ms).
//!
//! What this cannot see: a never-called sequence set to another never-called state
//! (`setval(s, v, false)`) on a server before 18, where only the relation holds it, and a role
//! made superuser (pg_authid is not readable). A watch therefore reads in full at least every
//! few rounds anyway (`engine::run::watch`).

use super::endpoint::PgSession;
use crate::engine::model::{RawState, Sequence};
use crate::engine::Error;

/// A side's catalogue as counts and sums of row versions; equal when nothing the plan reads
/// has been written since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

/// Each part: how many rows, and the sum of the transaction ids that wrote them.
const FINGERPRINT_SQL: &str = r#"
SELECT concat_ws('|',
  (SELECT count(*)::text || ':' || coalesce(sum(c.xmin::text::int8 + s.xmin::text::int8
              + c.relfilenode::int8 + c.relnamespace::int8), 0)::text
     FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid),
  (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text
     FROM pg_catalog.pg_namespace),
  (SELECT count(*)::text || ':' || coalesce(sum(d.xmin::text::int8
              + coalesce(t.xmin::text::int8, 0) + coalesce(a.xmin::text::int8, 0)), 0)::text
     FROM pg_catalog.pg_depend d
     LEFT JOIN pg_catalog.pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_class'::regclass
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
     WHERE (d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i', 'e'))
        OR d.classid = 'pg_catalog.pg_attrdef'::regclass),
  (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text
     FROM pg_catalog.pg_attrdef),
  (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text
     FROM pg_catalog.pg_index),
  (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text
     FROM pg_catalog.pg_auth_members),
  pg_catalog.pg_is_in_recovery()::text)
"#;

const QUICK_VALUES_SQL: &str =
    "SELECT array_agg(pg_catalog.pg_sequence_last_value(u.o) ORDER BY u.i) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i)";

const QUICK_DATA_SQL: &str =
    "SELECT array_agg(d.last_value ORDER BY u.i), array_agg(d.is_called ORDER BY u.i) \
     FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) \
     LEFT JOIN LATERAL pg_catalog.pg_get_sequence_data(u.o::regclass) d ON true";

impl PgSession {
    /// This side's fingerprint, in one statement of a few ms.
    pub async fn fingerprint(&self) -> Result<Fingerprint, Error> {
        let row = self
            .bounded(
                "reading the catalogue's fingerprint",
                self.client.query_one(FINGERPRINT_SQL, &[]),
            )
            .await?;
        Ok(Fingerprint(row.get(0)))
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
