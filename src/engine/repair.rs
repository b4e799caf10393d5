//! Repair from the data, pure: where each destination sequence must stand so that the columns
//! it feeds take new rows again, after a cutover left it behind them. The data decides; a
//! source, where one is given, can only push a target further. Nothing is ever lowered.

use super::behind::ColumnEdge;
use super::model::{DataEdge, Matched, OwnedBy, PlanRow, RowStatus, Sequence, SourceKey};
use std::collections::HashMap;

/// Ids kept free past a column's largest value by default. Rows that land after the read and
/// before the set (a replication's last batches, an explicit-id writer, another session's
/// cached values) need room; a thousand covers a busy table's seconds and costs nothing of a
/// bigint's range.
pub const DEFAULT_MARGIN: u64 = 1000;

/// A margin as typed (`1000`, `1_000`): a whole number of ids, 0 or more.
pub fn parse_margin(text: &str) -> Result<u64, String> {
    let digits = text.trim().replace('_', "");
    if digits.starts_with('-') {
        return Err(
            "the margin must not be negative: it is the ids kept free past the data".into(),
        );
    }
    digits.parse::<u64>().map_err(|_| {
        format!(
            "'{}' is not a whole number of ids (like 1000)",
            crate::engine::text::excerpt(text, 40)
        )
    })
}

/// What a repair reads beside the destination's sequences: each column's edge (keyed by
/// destination OID, in `Sequence::fed_columns` order) and, with a source, sync's plan rows.
pub struct RepairInput<'a> {
    pub destination: &'a [Sequence],
    pub edges: &'a HashMap<u32, Vec<ColumnEdge>>,
    /// The plan `sync` would make from the source; None repairs from the data alone.
    pub synced: Option<&'a [PlanRow]>,
    /// Ids kept free past the data (in increments of the sequence).
    pub margin: u64,
    /// The destination role, for the GRANT a refused row names.
    pub role: &'a str,
}

/// One row per destination sequence, sorted by schema and name; with a source, its sequences
/// missing in the destination are listed too.
pub fn plan_repair(input: &RepairInput) -> Vec<PlanRow> {
    let synced: HashMap<u32, &PlanRow> = input
        .synced
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.destination_oid.map(|oid| (oid, r)))
        .collect();
    let mut rows: Vec<PlanRow> = input
        .destination
        .iter()
        .map(|seq| {
            let no_edges = vec![];
            let edges = input.edges.get(&seq.oid).unwrap_or(&no_edges);
            repair_row(seq, edges, synced.get(&seq.oid).copied(), input)
        })
        .collect();
    rows.extend(
        input
            .synced
            .unwrap_or_default()
            .iter()
            .filter(|r| r.status == RowStatus::MissingInDestination)
            .cloned(),
    );
    rows.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    rows
}

/// What the data says of one sequence: where it must at least stand (None: it is clear of
/// every column it feeds), what was seen, and what could not be read.
struct DataVerdict {
    target: Option<i128>,
    seen: Vec<String>,
    refused: Option<(RowStatus, String)>,
    /// The bounds of the narrowest column type it feeds.
    type_range: Option<(i64, i64, String)>,
}

fn read_data(
    seq: &Sequence,
    edges: &[ColumnEdge],
    position: i128,
    input: &RepairInput,
) -> DataVerdict {
    let ascending = seq.ascending();
    let mut verdict = DataVerdict {
        target: None,
        seen: vec![],
        refused: None,
        type_range: None,
    };
    let mut refusals: Vec<(RowStatus, String)> = vec![];
    for (column, ColumnEdge { column: name, edge }) in seq.fed_columns().zip(edges) {
        narrow_type_range(&mut verdict.type_range, column);
        match edge {
            DataEdge::Value(None) => verdict.seen.push(format!("{name} is empty")),
            DataEdge::Value(Some(value)) => {
                let value = *value as i128;
                let behind = if ascending {
                    value >= position
                } else {
                    value <= position
                };
                if behind {
                    let needed = value + seq.increment as i128 * (input.margin as i128 + 1);
                    verdict.target = Some(
                        verdict
                            .target
                            .map_or(needed, |t| further(ascending, t, needed)),
                    );
                    verdict.seen.push(format!("{name} holds {value}"));
                } else {
                    verdict
                        .seen
                        .push(format!("{name} holds {value}, clear of it"));
                }
            }
            DataEdge::Unindexed => refusals.push((
                RowStatus::Unavailable,
                format!(
                    "no index leads {name}: its largest value takes a full scan of the table, \
                     which only --scan-unindexed reads; not guessed"
                ),
            )),
            DataEdge::Unreadable(_) if !column.readable => refusals.push((
                RowStatus::NoPrivilege,
                format!(
                    "this role may not read {name}: GRANT SELECT ({}) ON {} TO {}",
                    super::model::display_ident(&column.column),
                    column.qualified_table(),
                    input.role
                ),
            )),
            DataEdge::Unreadable(why) => refusals.push((
                RowStatus::Unavailable,
                format!("reading {name} failed ({why}); not guessed"),
            )),
        }
    }
    if let Some((status, _)) = refusals.first() {
        let status = *status;
        let message = refusals
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; ");
        verdict.refused = Some((status, message));
    }
    verdict
}

fn narrow_type_range(range: &mut Option<(i64, i64, String)>, column: &OwnedBy) {
    if let Some((low, high)) = column.type_range() {
        let width = |low: i64, high: i64| high as i128 - low as i128;
        let narrower = range
            .as_ref()
            .is_none_or(|(l, h, _)| width(low, high) < width(*l, *h));
        if narrower {
            *range = Some((
                low,
                high,
                format!("{} ({})", column.qualified_column(), column.column_type),
            ));
        }
    }
}

fn further(ascending: bool, a: i128, b: i128) -> i128 {
    if ascending {
        a.max(b)
    } else {
        a.min(b)
    }
}

fn with(mut row: PlanRow, status: RowStatus, note: String) -> PlanRow {
    row.status = status;
    row.message = join(&row.message, &note);
    row
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}; {b}"),
    }
}

fn repair_row(
    seq: &Sequence,
    edges: &[ColumnEdge],
    synced: Option<&PlanRow>,
    input: &RepairInput,
) -> PlanRow {
    let mut row = PlanRow {
        schema: seq.schema.clone(),
        name: seq.name.clone(),
        source_value: synced.and_then(|r| r.source_value),
        destination_before: seq.next_display().filter(|_| seq.can_read),
        target: None,
        destination_after: None,
        status: RowStatus::Unchanged,
        message: String::new(),
        destination_oid: Some(seq.oid),
        source_name: synced.and_then(|r| r.source_name.clone()),
        matched: synced.map_or(Matched::Name, |r| r.matched.clone()),
        source_key: synced
            .and_then(PlanRow::source_names)
            .map(|(schema, name)| SourceKey::of(&seq.schema, &seq.name, schema, name)),
    };
    if let Some(why) = seq.unavailable() {
        return with(
            row,
            RowStatus::Unavailable,
            format!("its value is not available: {why}"),
        );
    }
    let Some(position) = seq.next_position().filter(|_| seq.can_read) else {
        return with(
            row,
            RowStatus::NoPrivilege,
            format!(
                "cannot read it: {}",
                seq.grant_needed("SELECT, UPDATE", input.role)
            ),
        );
    };
    if seq.feeds_a_column() && edges.is_empty() {
        return with(
            row,
            // Not "unchanged": nobody knows. Put back in by hand, it is refused, not guessed.
            RowStatus::Unavailable,
            "left out when planned, so its columns were not read: plan again to repair it".into(),
        );
    }
    let data = read_data(seq, edges, position, input);
    if let Some((status, message)) = data.refused {
        return with(row, status, message);
    }
    let ascending = seq.ascending();
    // What the source asks for, as sync would set it; its problems are said, and stop the row
    // only where the data asks for nothing.
    let mut source_target = None;
    let mut source_problem = None;
    if let Some(synced) = synced {
        match synced.status {
            RowStatus::Update | RowStatus::Unchanged | RowStatus::Ahead => {
                source_target = synced.target.map(i128::from);
            }
            RowStatus::MissingInSource => {
                row.message = "not in the source: from the data alone".to_string();
            }
            status => source_problem = Some((status, format!("source: {}", synced.message))),
        }
    }
    if seq.cycle && data.target.is_some() {
        return with(
            row,
            RowStatus::Unavailable,
            format!(
                "{}; a CYCLE sequence's ids wrap around, so its column's largest value does not \
                 say where it stands: set it by hand",
                data.seen.join(", ")
            ),
        );
    }
    let target = match (data.target, source_target) {
        (Some(d), Some(s)) => Some(further(ascending, d, s)),
        (d, s) => d.or(s),
    };
    let seen = data.seen.join(", ");
    let Some(target) = target else {
        if let Some((status, message)) = source_problem {
            return with(row, status, join(&seen, &message));
        }
        let why = if !seq.feeds_a_column() {
            "feeds no column: left alone (a source sets it)".to_string()
        } else if data.seen.iter().all(|s| s.ends_with("is empty")) {
            format!("{seen}: left alone")
        } else {
            seen
        };
        return with(row, RowStatus::Unchanged, why);
    };
    row.target = i64::try_from(target).ok();
    let from_data = data.target == Some(target);
    let story = if from_data {
        let kept = input.margin;
        join(
            &seen,
            &format!("next value {target} keeps {kept} id(s) free past it"),
        )
    } else {
        join(
            &seen,
            &format!(
                "the source's {} + offset sets {target}",
                row.source_value.map_or("value".into(), |v| v.to_string())
            ),
        )
    };
    let story = match source_problem {
        Some((_, m)) => join(&story, &m),
        None => story,
    };
    let mut bounds = vec![(
        seq.min,
        seq.max,
        format!("the sequence's MINVALUE..MAXVALUE ({})", seq.data_type),
    )];
    bounds.extend(data.type_range.clone());
    for (low, high, what) in bounds {
        if target < low as i128 || target > high as i128 {
            let bound = if ascending { high } else { low } as i128;
            let why = if from_data {
                // The largest margin that still fits: the tired operator's next command.
                let edge = target - seq.increment as i128 * (input.margin as i128 + 1);
                let fits = (bound - edge) / seq.increment as i128 - 1;
                let advice = if fits >= 0 {
                    format!("a margin of at most {fits} fits (--margin {fits})")
                } else {
                    "no id is left past the data: widen the type or the bound".to_string()
                };
                format!("{seen}; next value {target} is past {what} {low}..{high}: {advice}")
            } else {
                format!("{story}, outside {what} {low}..{high}")
            };
            return with(row, RowStatus::OutOfRange, why);
        }
    }
    let past = if ascending {
        position > target
    } else {
        position < target
    };
    if position == target {
        with(
            row,
            RowStatus::Unchanged,
            join(&seen, "already at the target"),
        )
    } else if past {
        with(
            row,
            RowStatus::Ahead,
            join(&seen, "already past the target: never lowered"),
        )
    } else if !seq.can_update {
        with(
            row,
            RowStatus::NoPrivilege,
            format!("{story}; {}", seq.grant_needed("UPDATE", input.role)),
        )
    } else {
        with(row, RowStatus::Update, story)
    }
}

#[cfg(test)]
mod tests;
