//! The columns a sequence feeds beyond its owning column (a DEFAULT that calls `nextval()` on
//! it), and each fed column's largest value (smallest when the sequence descends), for the
//! behind-data check.

use super::endpoint::PgSession;
use crate::engine::behind::ColumnEdge;
use crate::engine::model::{quote_ident, DataEdge, OwnedBy, Sequence};
use crate::engine::Error;
use std::collections::HashMap;

/// Fed columns whose extreme one statement reads (one index probe each).
const DATA_EDGE_CHUNK: usize = 50;

/// Table columns whose DEFAULT depends on a sequence (what `DEFAULT nextval('s')` records),
/// partitions left out (their parent's column covers their rows).
const DEFAULTS_SQL: &str = r#"
SELECT d.refobjid AS sequence, n.nspname, t.relname, a.attname,
       format_type(a.atttypid, NULL) AS column_type,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
               WHERE x.indrelid = t.oid AND x.indkey[0] = a.attnum AND x.indisvalid) AS indexed,
       COALESCE(has_column_privilege(t.oid, a.attnum, 'SELECT')
                AND has_schema_privilege(n.oid, 'USAGE'), false) AS readable
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
JOIN pg_catalog.pg_class t ON t.oid = ad.adrelid AND t.relkind IN ('r', 'p') AND NOT t.relispartition
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum AND NOT a.attisdropped
JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
  AND d.refclassid = 'pg_catalog.pg_class'::regclass
  AND d.deptype = 'n'
ORDER BY 1, 2, 3, 4
"#;

impl PgSession {
    /// Fills each sequence's `default_for`: the columns whose DEFAULT calls it, other than its
    /// owning column.
    pub(super) async fn attach_defaults(&self, sequences: &mut [Sequence]) -> Result<(), Error> {
        let rows = self
            .bounded(
                "reading column defaults",
                self.client.query(DEFAULTS_SQL, &[]),
            )
            .await?;
        let mut by_oid: HashMap<u32, Vec<OwnedBy>> = HashMap::new();
        for r in rows {
            by_oid.entry(r.get("sequence")).or_default().push(OwnedBy {
                schema: r.get("nspname"),
                table: r.get("relname"),
                column: r.get("attname"),
                identity: false,
                indexed: r.get("indexed"),
                readable: r.get("readable"),
                column_type: r.get("column_type"),
            });
        }
        for seq in sequences.iter_mut() {
            if let Some(columns) = by_oid.remove(&seq.oid) {
                let others: Vec<OwnedBy> = columns
                    .into_iter()
                    .filter(|c| {
                        seq.owned_by().is_none_or(|o| {
                            (&o.schema, &o.table, &o.column) != (&c.schema, &c.table, &c.column)
                        })
                    })
                    .collect();
                if !others.is_empty() {
                    seq.extras_mut().default_for = others;
                }
            }
        }
        Ok(())
    }

    /// For each sequence, every column it feeds (owning column, DEFAULT nextval()) with the
    /// column's largest value (smallest when the sequence descends), read only where an index
    /// makes it cheap unless `scan_unindexed`. A sequence that feeds nothing gets no entries.
    pub async fn data_edges(
        &self,
        sequences: &[&Sequence],
        scan_unindexed: bool,
    ) -> Vec<Vec<ColumnEdge>> {
        let mut edges: Vec<Vec<ColumnEdge>> = vec![vec![]; sequences.len()];
        let mut to_read: Vec<((usize, usize), String)> = vec![];
        for (k, seq) in sequences.iter().enumerate() {
            for column in seq.fed_columns() {
                let place = (k, edges[k].len());
                let edge = if !column.readable {
                    DataEdge::Unreadable(format!(
                        "this role may not SELECT {}",
                        column.qualified_column()
                    ))
                } else if !column.indexed && !scan_unindexed {
                    DataEdge::Unindexed
                } else {
                    let extreme = if seq.ascending() { "max" } else { "min" };
                    to_read.push((
                        place,
                        format!(
                            "(SELECT pg_catalog.{extreme}({})::int8 FROM {}.{})",
                            quote_ident(&column.column),
                            quote_ident(&column.schema),
                            quote_ident(&column.table)
                        ),
                    ));
                    DataEdge::Value(None)
                };
                edges[k].push(ColumnEdge {
                    column: column.qualified_column(),
                    edge,
                });
            }
        }
        for chunk in to_read.chunks(DATA_EDGE_CHUNK) {
            let select = |exprs: &[((usize, usize), String)]| {
                let list: Vec<&str> = exprs.iter().map(|(_, e)| e.as_str()).collect();
                format!("SELECT {}", list.join(", "))
            };
            let sql = select(chunk);
            match self
                .bounded("reading the fed columns", self.client.query_one(&sql, &[]))
                .await
            {
                Ok(row) => {
                    for (j, ((k, c), _)) in chunk.iter().enumerate() {
                        edges[*k][*c].edge = DataEdge::Value(row.get(j));
                    }
                }
                // One column failed (a value beyond 64 bits, a lock, not a number): find which,
                // one by one.
                Err(_) => {
                    for one in chunk {
                        let sql = select(std::slice::from_ref(one));
                        let ((k, c), _) = one;
                        edges[*k][*c].edge = match self
                            .bounded("reading the fed column", self.client.query_one(&sql, &[]))
                            .await
                        {
                            Ok(row) => DataEdge::Value(row.get(0)),
                            Err(e) => DataEdge::Unreadable(e.message),
                        };
                    }
                }
            }
        }
        edges
    }
}
