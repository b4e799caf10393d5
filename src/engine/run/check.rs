//! `check`: every serial or identity sequence of a destination whose next value its own column
//! already holds. Reads only.

use super::context::Context;
use crate::engine::model::{DataEdge, Sequence};
use crate::engine::plan::ids_taken;
use crate::engine::postgres::PgEndpoint;
use crate::engine::Error;

/// One destination sequence as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checked {
    pub sequence: String,
    pub column: String,
    pub next_value: Option<i64>,
    /// The column's largest value (smallest for a descending sequence).
    pub data_edge: Option<i64>,
    /// ok, behind-data or unchecked.
    pub status: &'static str,
    pub note: String,
}

impl Checked {
    pub fn is_behind(&self) -> bool {
        self.status == "behind-data"
    }
}

/// Columns no index leads are read (a full scan each) only with `scan_unindexed`.
pub async fn check(
    ctx: &Context,
    destination: &PgEndpoint,
    scan_unindexed: bool,
) -> Result<Vec<Checked>, Error> {
    let session = destination.connect(&ctx.timeouts).await?;
    let sequences = session.read_sequences().await?;
    let owned: Vec<&Sequence> = sequences.iter().filter(|s| s.owned_by.is_some()).collect();
    let edges = session.data_edges(&owned, scan_unindexed).await;
    Ok(owned
        .iter()
        .zip(edges)
        .map(|(seq, edge)| classify(seq, edge.expect("owned sequences have an edge")))
        .collect())
}

fn classify(seq: &Sequence, edge: DataEdge) -> Checked {
    let owner = seq.owned_by.as_ref().expect("owned");
    let next_value = seq.next_display().filter(|_| seq.can_read);
    let (data_edge, status, note) = match (&edge, next_value) {
        (DataEdge::Value(Some(v)), Some(next)) => match ids_taken(seq.ascending(), next, *v) {
            Some(gap) => (
                Some(*v),
                "behind-data",
                format!("the next {gap} id(s) already exist: sync with a larger offset, or setval past {v}"),
            ),
            None => (Some(*v), "ok", String::new()),
        },
        (DataEdge::Value(v), None) => (*v, "unchecked", "cannot read the sequence".to_string()),
        (DataEdge::Value(None), Some(_)) => (None, "ok", "the table is empty".to_string()),
        (DataEdge::Unindexed, _) => (
            None,
            "unchecked",
            "no index leads the column (--scan-unindexed reads it)".to_string(),
        ),
        (DataEdge::Unreadable(why), _) => (None, "unchecked", why.clone()),
    };
    Checked {
        sequence: seq.qualified_name(),
        column: owner.qualified_column(),
        next_value,
        data_edge,
        status,
        note,
    }
}
