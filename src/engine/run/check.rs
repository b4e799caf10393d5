//! `check`: every sequence of a destination whose next value a column it feeds (serial,
//! identity, DEFAULT nextval()) already holds. Reads only.

use super::context::Context;
use crate::engine::behind::{ids_taken, ColumnEdge};
use crate::engine::instance::Instance;
use crate::engine::model::{DataEdge, Sequence};
use crate::engine::postgres::PgEndpoint;
use crate::engine::Error;

/// One column a destination sequence feeds, as `check` reports it (a sequence that feeds
/// several columns has a line for each).
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
    let feeding: Vec<&Sequence> = sequences.iter().filter(|s| s.feeds_a_column()).collect();
    let edges = session.data_edges(&feeding, scan_unindexed).await;
    Ok(feeding
        .iter()
        .zip(edges)
        .flat_map(|(seq, columns)| columns.into_iter().map(|c| classify(seq, c)))
        .collect())
}

/// How many of a task's destination sequences are behind the data of a column they feed, by
/// index probes only (a column no index leads is not read): what Basic Information says of a
/// finished task, within one connect and one statement deadline.
pub async fn behind_data(ctx: &Context, instance: &Instance) -> Result<usize, Error> {
    let destination = super::target::destination(&instance.destination, &|_| {})?;
    let limit = ctx.timeouts.connect + ctx.timeouts.statement;
    let checked = tokio::time::timeout(limit, check(ctx, &destination, false))
        .await
        .map_err(|_| {
            Error::failed(format!(
                "the data was not read within {}",
                humantime::format_duration(limit)
            ))
        })??;
    let behind: std::collections::HashSet<&str> = checked
        .iter()
        .filter(|c| c.is_behind())
        .map(|c| c.sequence.as_str())
        .collect();
    Ok(behind.len())
}

fn classify(seq: &Sequence, ColumnEdge { column, edge }: ColumnEdge) -> Checked {
    let next_value = seq.next_display().filter(|_| seq.can_read);
    let (data_edge, status, note) = match (&edge, next_value) {
        (DataEdge::Value(Some(v)), Some(next)) => match ids_taken(seq.ascending(), next, *v) {
            Some(gap) => (
                Some(*v),
                "behind-data",
                format!("the next {gap} id(s) already exist: repair sets it past {v}"),
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
        column,
        next_value,
        data_edge,
        status,
        note,
    }
}
