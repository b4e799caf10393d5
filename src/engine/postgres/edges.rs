//! The data a sequence feeds: each owning column's largest value (smallest when the sequence
//! descends), for the behind-data check.

use super::endpoint::PgSession;
use crate::engine::model::{quote_ident, DataEdge, Sequence};

/// Owning columns whose extreme one statement reads (one index probe each).
const DATA_EDGE_CHUNK: usize = 50;

impl PgSession {
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
                                Err(e) => DataEdge::Unreadable(e.message),
                            },
                        );
                    }
                }
            }
        }
        edges
    }
}
