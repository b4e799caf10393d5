//! Repair from the data, pure: where each destination sequence must stand so that the columns
//! it feeds take new rows again, after a cutover left it behind them. The data decides; a
//! source, where one is given, can only push a target further. Nothing is ever lowered.

use super::behind::ColumnEdge;
use super::model::{DataEdge, Matched, OwnedBy, PlanRow, RowStatus, Sequence};
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
        source_key: synced.and_then(|r| r.source_key.clone()),
    };
    if let Some(why) = &seq.unavailable {
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
            RowStatus::Unchanged,
            "not chosen: its columns were not read".into(),
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
mod tests {
    use super::*;
    use crate::engine::model::OwnedBy;

    fn column(table: &str, column_type: &str, readable: bool) -> OwnedBy {
        OwnedBy {
            schema: "public".into(),
            table: table.into(),
            column: "id".into(),
            identity: false,
            indexed: true,
            readable,
            column_type: column_type.into(),
        }
    }

    fn feeding(name: &str, oid: u32, next: i64, increment: i64, tables: &[&str]) -> Sequence {
        let (min, max) = if increment > 0 {
            (1, i64::MAX)
        } else {
            (i64::MIN, -1)
        };
        let mut seq = Sequence::for_test(name, next, false, increment, min, max);
        seq.oid = oid;
        let mut fed = tables.iter().map(|t| column(t, "bigint", true));
        seq.owned_by = fed.next();
        seq.default_for = fed.collect();
        seq
    }

    fn edge(table: &str, edge: DataEdge) -> ColumnEdge {
        ColumnEdge {
            column: format!("public.{table}.id"),
            edge,
        }
    }

    fn repair(
        destination: &[Sequence],
        edges: HashMap<u32, Vec<ColumnEdge>>,
        margin: u64,
    ) -> Vec<PlanRow> {
        plan_repair(&RepairInput {
            destination,
            edges: &edges,
            synced: None,
            margin,
            role: "app",
        })
    }

    #[test]
    fn a_sequence_behind_its_data_moves_past_the_largest_value_of_every_column_it_feeds() {
        let shared = feeding("shared", 1, 1, 1, &["a", "b"]);
        let rows = repair(
            &[shared],
            HashMap::from([(
                1,
                vec![
                    edge("a", DataEdge::Value(Some(500))),
                    edge("b", DataEdge::Value(Some(51_200))),
                ],
            )]),
            1000,
        );
        assert_eq!(rows[0].status, RowStatus::Update, "{}", rows[0].message);
        assert_eq!(rows[0].destination_before, Some(1));
        assert_eq!(rows[0].target, Some(52_201));
        assert!(
            rows[0].message.contains("public.b.id holds 51200"),
            "{}",
            rows[0].message
        );
        assert!(
            rows[0]
                .message
                .contains("next value 52201 keeps 1000 id(s) free"),
            "{}",
            rows[0].message
        );
    }

    #[test]
    fn descending_sequences_move_below_the_smallest_value() {
        let down = feeding("down", 1, -1, -2, &["d"]);
        let rows = repair(
            &[down],
            HashMap::from([(1, vec![edge("d", DataEdge::Value(Some(-130)))])]),
            10,
        );
        assert_eq!(rows[0].target, Some(-130 - 2 * 11));
        assert_eq!(rows[0].status, RowStatus::Update);
    }

    #[test]
    fn clear_empty_and_columnless_sequences_are_left_alone() {
        let clear = feeding("clear", 1, 151, 1, &["c"]);
        let empty = feeding("empty", 2, 1, 1, &["e"]);
        let alone = feeding("alone", 3, 7, 1, &[]);
        let rows = repair(
            &[clear, empty, alone],
            HashMap::from([
                (1, vec![edge("c", DataEdge::Value(Some(150)))]),
                (2, vec![edge("e", DataEdge::Value(None))]),
            ]),
            1000,
        );
        for row in &rows {
            assert_eq!(row.status, RowStatus::Unchanged, "{row:?}");
            assert_eq!(row.target, None, "{row:?}");
        }
        assert!(rows[0].message.contains("feeds no column"));
        assert!(rows[1].message.contains("clear of it"));
        assert!(rows[2].message.contains("is empty: left alone"));
    }

    #[test]
    fn targets_past_the_sequence_or_the_column_type_are_refused_naming_the_largest_value() {
        let mut narrow = feeding("narrow", 1, 1, 1, &["n"]);
        narrow.owned_by.as_mut().unwrap().column_type = "integer".into();
        let mut capped = feeding("capped", 2, 1, 1, &["m"]);
        capped.max = 10_000;
        let rows = repair(
            &[capped, narrow],
            HashMap::from([
                (
                    1,
                    vec![edge("n", DataEdge::Value(Some(i32::MAX as i64 - 10)))],
                ),
                (2, vec![edge("m", DataEdge::Value(Some(9_500)))]),
            ]),
            1000,
        );
        assert_eq!(rows[0].status, RowStatus::OutOfRange);
        assert!(
            rows[0].message.contains("public.m.id holds 9500"),
            "{}",
            rows[0].message
        );
        assert!(
            rows[0]
                .message
                .contains("MINVALUE..MAXVALUE (bigint) 1..10000"),
            "{}",
            rows[0].message
        );
        assert!(
            rows[0].message.contains("a margin of at most 499 fits"),
            "9500 + 500 = 10000 is the last id: {}",
            rows[0].message
        );
        assert!(
            rows[1].message.contains("a margin of at most 9 fits"),
            "{}",
            rows[1].message
        );
        assert_eq!(rows[1].status, RowStatus::OutOfRange);
        assert!(
            rows[1].message.contains("public.n.id (integer)"),
            "{}",
            rows[1].message
        );
    }

    #[test]
    fn unreadable_unindexed_and_cycling_rows_are_refused_never_guessed() {
        let mut secret = feeding("secret", 1, 1, 1, &["s"]);
        secret.owned_by.as_mut().unwrap().readable = false;
        let big = feeding("big", 2, 1, 1, &["b"]);
        let mut round = feeding("round", 3, 1, 1, &["r"]);
        round.cycle = true;
        let rows = repair(
            &[big, round, secret],
            HashMap::from([
                (1, vec![edge("s", DataEdge::Unreadable("no".into()))]),
                (2, vec![edge("b", DataEdge::Unindexed)]),
                (3, vec![edge("r", DataEdge::Value(Some(40)))]),
            ]),
            1000,
        );
        assert_eq!(rows[0].status, RowStatus::Unavailable);
        assert!(rows[0].message.contains("--scan-unindexed"));
        assert_eq!(rows[1].status, RowStatus::Unavailable);
        assert!(rows[1].message.contains("CYCLE"));
        assert_eq!(rows[2].status, RowStatus::NoPrivilege);
        assert!(
            rows[2]
                .message
                .contains("GRANT SELECT (id) ON public.s TO app"),
            "{}",
            rows[2].message
        );
        assert!(rows.iter().all(|r| r.target.is_none()));
    }

    #[test]
    fn a_source_pushes_the_target_further_but_never_lowers() {
        let behind = feeding("behind", 1, 1, 1, &["x"]);
        let ahead_of_data = feeding("source_wins", 2, 1, 1, &["y"]);
        let already = feeding("already", 3, 90_000, 1, &["z"]);
        let synced = |oid: u32, target: i64, status: RowStatus| PlanRow {
            schema: "public".into(),
            name: String::new(),
            source_value: Some(target - 100),
            destination_before: None,
            target: Some(target),
            destination_after: None,
            status,
            message: String::new(),
            destination_oid: Some(oid),
            source_name: None,
            matched: Matched::Name,
            source_key: None,
        };
        let plan = vec![
            synced(1, 600, RowStatus::Update),
            synced(2, 20_000, RowStatus::Update),
            synced(3, 700, RowStatus::Ahead),
        ];
        let destination = [behind, ahead_of_data, already];
        let edges = HashMap::from([
            (1, vec![edge("x", DataEdge::Value(Some(5_000)))]),
            (2, vec![edge("y", DataEdge::Value(Some(5_000)))]),
            (3, vec![edge("z", DataEdge::Value(Some(80_000)))]),
        ]);
        let rows = plan_repair(&RepairInput {
            destination: &destination,
            edges: &edges,
            synced: Some(&plan),
            margin: 1000,
            role: "app",
        });
        let by_name = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
        assert_eq!(by_name("behind").target, Some(6_001), "the data is further");
        assert_eq!(
            by_name("source_wins").target,
            Some(20_000),
            "the source is further"
        );
        assert!(by_name("source_wins")
            .message
            .contains("the source's 19900 + offset sets 20000"));
        assert_eq!(
            by_name("already").status,
            RowStatus::Ahead,
            "{:?}",
            by_name("already")
        );
    }
}
