//! What lets a watch's idle round skip the full read: a fingerprint of the catalogue rows the
//! plan reads (a count and a sum of the transaction ids that last wrote them: any rename,
//! `ALTER SEQUENCE`, grant, new owner, index, default or role membership writes a new row
//! version), and the values alone, in one row. When both sides' fingerprints and values are
//! what the last full round read, that round's plan is still the plan, and nothing needs
//! applying. Row hashes would be exact but cost more than the read they save (record-to-text
//! over 10,000 rows is about 90 ms on PostgreSQL 15; this is about 9 ms).
//!
//! What this cannot see: a never-called sequence set to another never-called state
//! (`setval(s, v, false)`) on a server before 18, where only the relation holds it, and a role
//! made superuser (pg_authid is not readable). A watch therefore reads in full at least every
//! few rounds anyway (`engine::run::watch`).

use super::endpoint::{IdleStatements, PgSession};
use crate::engine::model::{RawState, Sequence};
use crate::engine::Error;

/// A side's catalogue as counts and sums of row versions; equal when nothing the plan reads
/// has been written since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

/// Each part: how many rows, and the sum of the transaction ids that wrote them. An xid has no
/// cast to a number but through text, which over 10,000 rows cost more than the rest together;
/// `age` is arithmetic, and `now - age(x)` modulo 2^32 is `x` itself, whatever `now` is (rows
/// written at bootstrap have no age, `age` says 2^31 - 1, and count for nothing in the sum). Owner
/// tables and columns are looked up row by row: the planner otherwise hashes all of pg_class.
const FINGERPRINT_SQL: &str = r#"
SELECT concat_ws('|',
  (SELECT count(*) || ':' || coalesce(sum(((r.now - nullif(age(c.xmin), 2147483647)) & 4294967295)
              + c.relfilenode::int8 + c.relnamespace::int8), 0)
     FROM pg_catalog.pg_class c WHERE c.relkind = 'S'),
  (SELECT count(*) || ':' || coalesce(sum((r.now - nullif(age(s.xmin), 2147483647)) & 4294967295), 0)
     FROM pg_catalog.pg_sequence s),
  (SELECT count(*) || ':' || coalesce(sum((r.now - nullif(age(n.xmin), 2147483647)) & 4294967295), 0)
     FROM pg_catalog.pg_namespace n),
  (SELECT count(*) || ':' || coalesce(sum(((r.now - nullif(age(d.xmin), 2147483647)) & 4294967295)
       + coalesce((SELECT (r.now - nullif(age(t.xmin), 2147483647)) & 4294967295 FROM pg_catalog.pg_class t
                   WHERE t.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_class'::regclass), 0)
       + coalesce((SELECT (r.now - nullif(age(a.xmin), 2147483647)) & 4294967295 FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                     AND d.refclassid = 'pg_catalog.pg_class'::regclass), 0)), 0)
     FROM pg_catalog.pg_depend d
     WHERE (d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i', 'e'))
        OR d.classid = 'pg_catalog.pg_attrdef'::regclass),
  (SELECT count(*) || ':' || coalesce(sum((r.now - nullif(age(x.xmin), 2147483647)) & 4294967295), 0)
     FROM pg_catalog.pg_attrdef x),
  (SELECT count(*) || ':' || coalesce(sum((r.now - nullif(age(i.xmin), 2147483647)) & 4294967295), 0)
     FROM pg_catalog.pg_index i),
  (SELECT count(*) || ':' || coalesce(sum((r.now - nullif(age(m.xmin), 2147483647)) & 4294967295), 0)
     FROM pg_catalog.pg_auth_members m),
  pg_catalog.pg_is_in_recovery()::text)
FROM (SELECT age('3'::xid)::int8 + 3 AS now) r
"#;

/// The values in the order of `$1` (a function scan feeds its rows in order, and `array_agg`
/// keeps the order it is fed; sorting by ordinality cost about a fifth of the read). An order
/// ever different would all but surely make the values differ, which reads in full.
const QUICK_VALUES_SQL: &str = "SELECT array_agg(pg_catalog.pg_sequence_last_value(u.o)) \
                                FROM unnest($1::oid[]) AS u(o)";

const QUICK_DATA_SQL: &str = "SELECT array_agg(d.last_value), array_agg(d.is_called) \
     FROM unnest($1::oid[]) AS u(o) \
     LEFT JOIN LATERAL pg_catalog.pg_get_sequence_data(u.o::regclass) d ON true";

impl PgSession {
    async fn idle_statements(&self) -> Result<&IdleStatements, Error> {
        self.idle_statements
            .get_or_try_init(|| async {
                let quick = if self.reads_sequence_data() {
                    QUICK_DATA_SQL
                } else {
                    QUICK_VALUES_SQL
                };
                let (fingerprint, quick) = self
                    .bounded("preparing the idle round's reads", async {
                        tokio::try_join!(
                            self.client.prepare(FINGERPRINT_SQL),
                            self.client.prepare(quick)
                        )
                    })
                    .await?;
                Ok(IdleStatements { fingerprint, quick })
            })
            .await
    }

    /// This side's fingerprint, in one statement of a few ms.
    pub async fn fingerprint(&self) -> Result<Fingerprint, Error> {
        let statements = self.idle_statements().await?;
        let row = self
            .bounded(
                "reading the catalogue's fingerprint",
                self.client.query_one(&statements.fingerprint, &[]),
            )
            .await?;
        Ok(Fingerprint(row.get(0)))
    }

    /// The quick state of each sequence (see [`quick_state`]), in one statement.
    pub async fn quick_states(&self, oids: &[u32]) -> Result<Vec<Option<RawState>>, Error> {
        if oids.is_empty() {
            return Ok(vec![]);
        }
        let quick = &self.idle_statements().await?.quick;
        let row = self
            .bounded(
                "reading sequence values",
                self.client.query_one(quick, &[&oids]),
            )
            .await?;
        if self.reads_sequence_data() {
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
        .filter(|s| s.can_read && s.unavailable().is_none() && s.last_value.is_some())
        .map(|s| s.oid)
        .collect()
}
