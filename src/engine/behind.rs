//! The behind-data check, pure: a destination sequence whose next value one of the columns it
//! feeds already holds would hand out duplicate keys.

use super::model::{DataEdge, PlanRow, RowStatus, Sequence};
use std::collections::HashMap;

/// What the destination's data says of one column a sequence feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnEdge {
    /// `schema.table.column`, quoted for display.
    pub column: String,
    pub edge: DataEdge,
}

/// Flags rows whose destination would hand out ids its own data already holds: after this plan
/// the next value (the target, or the current value where it stays) is at or below the largest
/// value of a column it feeds (above its smallest, descending). `edges` is keyed by destination
/// OID, one entry per column the sequence feeds. Such rows are not applied: the offset is too
/// small for the data the destination has.
pub fn flag_behind_data(
    rows: &mut [PlanRow],
    destination: &[Sequence],
    edges: &HashMap<u32, Vec<ColumnEdge>>,
) {
    let by_oid: HashMap<u32, &Sequence> = destination.iter().map(|d| (d.oid, d)).collect();
    for row in rows.iter_mut() {
        let Some(oid) = row.destination_oid else {
            continue;
        };
        let (Some(seq), Some(columns)) = (by_oid.get(&oid), edges.get(&oid)) else {
            continue;
        };
        let next = match row.status {
            RowStatus::Update | RowStatus::Unchanged => row.target,
            RowStatus::Ahead => row.destination_before,
            _ => None,
        };
        let mut notes = vec![];
        let mut needed: Option<i128> = None;
        for ColumnEdge { column, edge } in columns {
            match (edge, next) {
                (DataEdge::Value(Some(edge)), Some(next)) => {
                    if ids_taken(seq.ascending(), next, *edge).is_none() {
                        continue;
                    }
                    if let Some(source) = row.source_value {
                        let clears = if seq.ascending() {
                            *edge as i128 - source as i128 + 1
                        } else {
                            source as i128 - *edge as i128 + 1
                        };
                        needed = Some(needed.map_or(clears, |n| n.max(clears)));
                    }
                    row.status = RowStatus::BehindData;
                    notes.push(format!(
                        "{column} already holds {edge}, so next value {next} would repeat ids"
                    ));
                }
                (DataEdge::Value(_), _) => {}
                (DataEdge::Unindexed, _) => notes.push(format!(
                    "data not checked: no index leads {column} (--scan-unindexed reads it)"
                )),
                (DataEdge::Unreadable(why), _) => notes.push(format!("data not checked: {why}")),
            }
        }
        if let Some(n) = needed.filter(|n| *n > 0) {
            notes.push(format!("an offset of at least {n} clears it"));
        }
        if notes.is_empty() {
            continue;
        }
        let note = notes.join("; ");
        row.message = if row.message.is_empty() {
            note
        } else {
            format!("{}; {note}", row.message)
        };
    }
}

/// How many of the ids a sequence hands out from `next` on its column already holds, where
/// `edge` is the column's largest value (smallest for a descending sequence); None when the
/// next insert is clear of the data.
pub fn ids_taken(ascending: bool, next: i64, edge: i64) -> Option<i128> {
    let gap = if ascending {
        edge as i128 - next as i128
    } else {
        next as i128 - edge as i128
    };
    (gap >= 0).then_some(gap + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::offset::Offset;
    use crate::engine::plan::{plan, PlanOptions};

    fn edge(column: &str, edge: DataEdge) -> ColumnEdge {
        ColumnEdge {
            column: column.into(),
            edge,
        }
    }

    #[test]
    fn every_column_a_sequence_feeds_is_checked_and_the_worst_sets_the_offset_needed() {
        let mut source = Sequence::for_test("ids", 100, true, 1, 1, i64::MAX);
        source.oid = 1;
        let mut destination = Sequence::for_test("ids", 1, true, 1, 1, i64::MAX);
        destination.oid = 7;
        let options = PlanOptions {
            offset: Offset::new(10).unwrap(),
            allow_lower: false,
            scan_unindexed: false,
        };
        let mut rows = plan(&[source], &[destination.clone()], options);
        assert_eq!(rows[0].target, Some(110));
        let edges = HashMap::from([(
            7,
            vec![
                edge("public.a.id", DataEdge::Value(Some(105))),
                edge("public.b.id", DataEdge::Value(Some(150))),
                edge("public.c.id", DataEdge::Value(Some(3))),
                edge("public.d.id", DataEdge::Unindexed),
            ],
        )]);
        flag_behind_data(&mut rows, &[destination], &edges);
        let row = &rows[0];
        assert_eq!(row.status, RowStatus::BehindData);
        assert!(
            !row.message.contains("public.a.id"),
            "105 is below the target 110: {}",
            row.message
        );
        assert!(row.message.contains("public.b.id already holds 150"));
        assert!(!row.message.contains("public.c.id"));
        assert!(row.message.contains("no index leads public.d.id"));
        assert!(
            row.message.contains("an offset of at least 51 clears it"),
            "{}",
            row.message
        );
    }

    #[test]
    fn ids_taken_counts_in_the_sequence_direction() {
        assert_eq!(ids_taken(true, 10, 9), None);
        assert_eq!(ids_taken(true, 10, 10), Some(1));
        assert_eq!(ids_taken(false, -10, -12), Some(3));
        assert_eq!(ids_taken(false, -10, -9), None);
    }
}
