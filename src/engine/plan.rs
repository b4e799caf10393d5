//! The planner: pure, no I/O. (source sequences, destination sequences, offset) → plan rows.

use super::matching::{pair, source_label, Pairing};
use super::model::{Matched, NextValue, PlanRow, RowStatus, Sequence, SourceKey};
use super::offset::Offset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    pub offset: Offset,
    /// Set a destination that is already past the target back to the target.
    pub allow_lower: bool,
    /// Read owning columns that lead no index (a full scan each) for the behind-data check.
    pub scan_unindexed: bool,
}

/// Pairs sequences (see [`super::matching`]) and decides, for each pair, what the apply would
/// do. Rows come out sorted by schema and name.
pub fn plan(source: &[Sequence], destination: &[Sequence], options: PlanOptions) -> Vec<PlanRow> {
    plan_with_offsets(source, destination, options, &|_| options.offset)
}

/// [`plan`], with each pair's offset chosen by `offset_for(source sequence)` (a watch sizes
/// busy sequences' offsets by their write rate); `options.offset` is then unused.
pub fn plan_with_offsets(
    source: &[Sequence],
    destination: &[Sequence],
    options: PlanOptions,
    offset_for: &dyn Fn(&Sequence) -> Offset,
) -> Vec<PlanRow> {
    let mut rows: Vec<PlanRow> = pair(source, destination)
        .into_iter()
        .map(|pairing| row_for(pairing, options, offset_for))
        .collect();
    sort_by_name(&mut rows);
    rows
}

/// Sorts rows by schema and name, keeping equal names in their order, without the buffer of
/// half the rows a stable sort of the rows themselves takes (12 MB at 100,000 rows): the
/// indices are sorted, then the rows moved into place along the permutation's cycles.
fn sort_by_name(rows: &mut [PlanRow]) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| (&rows[a].schema, &rows[a].name).cmp(&(&rows[b].schema, &rows[b].name)));
    // Position i takes the row at order[i].
    for start in 0..rows.len() {
        let mut at = start;
        loop {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            rows.swap(at, from);
            at = from;
        }
    }
}

fn row_for(
    pairing: Pairing,
    options: PlanOptions,
    offset_for: &dyn Fn(&Sequence) -> Offset,
) -> PlanRow {
    let (s, d) = match &pairing {
        Pairing::Pair {
            source,
            destination,
            ..
        } => (Some(*source), Some(*destination)),
        Pairing::SourceOnly { source, .. } => (Some(*source), None),
        Pairing::DestinationOnly { destination, .. } => (None, Some(*destination)),
        Pairing::Ambiguous { destination, .. } => (None, Some(*destination)),
    };
    let named = d.or(s).expect("a pairing has a side");
    let offset = s.map_or(options.offset, offset_for);
    let mut row = plan_row(
        &named.schema,
        &named.name,
        s,
        d,
        offset,
        options.allow_lower,
    );
    match pairing {
        Pairing::Pair {
            source, matched, ..
        } => {
            if (&source.schema, &source.name) != (&named.schema, &named.name) {
                row.source_name = Some(source_label(source));
                if let Matched::Column(column) = &matched {
                    // Before any other note: it says why two different names are one row.
                    row.message = if row.message.is_empty() {
                        format!("matched through {column}")
                    } else {
                        format!("matched through {column}; {}", row.message)
                    };
                }
            }
            row.matched = matched;
        }
        Pairing::SourceOnly {
            name_taken_by: Some(other),
            ..
        } => {
            row.message = format!(
                "the destination sequence of that name is set from the source's {other} (they \
                 feed the same column), and no other destination sequence feeds this one's columns"
            );
        }
        Pairing::DestinationOnly {
            name_taken_by: Some(other),
            ..
        } => {
            row.message = format!(
                "the source sequence of that name sets {other} (they feed the same column); \
                 nothing in the source is left for this one"
            );
        }
        Pairing::Ambiguous { sources, why, .. } => {
            let labels: Vec<String> = sources.iter().map(|s| source_label(s)).collect();
            row.source_name = Some(labels.join(", "));
            if let [only] = sources.as_slice() {
                row.source_value = only.last_value;
            }
            row = with(row, RowStatus::Ambiguous, why);
        }
        _ => {}
    }
    let unlogged: Vec<&str> = [("source", s), ("destination", d)]
        .into_iter()
        .filter(|(_, seq)| seq.is_some_and(|q| q.unlogged))
        .map(|(side, _)| side)
        .collect();
    let mut notes: Vec<String> = s
        .and_then(|s| s.note())
        .map(String::from)
        .into_iter()
        .collect();
    if !unlogged.is_empty() {
        notes.push(format!(
            "unlogged in the {}: physical replication does not carry it and a crash resets it to its start",
            unlogged.join(" and the ")
        ));
    }
    for note in notes {
        row.message = if row.message.is_empty() {
            note
        } else {
            format!("{}; {note}", row.message)
        };
    }
    row
}

fn plan_row(
    schema: &str,
    name: &str,
    source: Option<&Sequence>,
    destination: Option<&Sequence>,
    offset: Offset,
    allow_lower: bool,
) -> PlanRow {
    let mut row = PlanRow {
        schema: schema.into(),
        name: name.into(),
        source_value: source.and_then(|s| s.last_value),
        destination_before: destination
            .filter(|d| d.can_read)
            .and_then(Sequence::next_display),
        target: None,
        destination_after: None,
        status: RowStatus::Update,
        message: String::new(),
        destination_oid: destination.map(|d| d.oid),
        source_name: source.and_then(|s| s.origin()).map(String::from),
        matched: Matched::Name,
        source_key: source.map(|s| SourceKey::of(schema, name, &s.schema, &s.name)),
    };
    let (src, dst) = match (source, destination) {
        (Some(s), Some(d)) => (s, d),
        (Some(_), None) => {
            return with(
                row,
                RowStatus::MissingInDestination,
                "no sequence of that name in the destination".into(),
            )
        }
        (None, _) => {
            return with(
                row,
                RowStatus::MissingInSource,
                "no sequence of that name in the source".into(),
            )
        }
    };
    for (side, seq) in [("source", src), ("destination", dst)] {
        if let Some(why) = seq.unavailable() {
            return with(
                row,
                RowStatus::Unavailable,
                format!("the {side} sequence's value is not available: {why}"),
            );
        }
    }
    let Some(source_value) = src.last_value.filter(|_| src.can_read) else {
        return with(
            row,
            RowStatus::NoPrivilege,
            format!(
                "cannot read the source sequence: {}",
                src.grant_needed("SELECT", "<source role>")
            ),
        );
    };
    let Some(position) = dst.next_position().filter(|_| dst.can_read) else {
        return with(
            row,
            RowStatus::NoPrivilege,
            format!(
                "cannot read the destination sequence: {}",
                dst.grant_needed("SELECT, UPDATE", "<destination role>")
            ),
        );
    };
    if src.ascending() != dst.ascending() {
        return with(
            row,
            RowStatus::OutOfRange,
            format!(
                "the source sequence {} and the destination sequence {}",
                direction(src),
                direction(dst)
            ),
        );
    }
    let target = if dst.ascending() {
        source_value as i128 + offset.get() as i128
    } else {
        source_value as i128 - offset.get() as i128
    };
    let Ok(target) = i64::try_from(target) else {
        return with(
            row,
            RowStatus::OutOfRange,
            format!(
                "{source_value} {} {} overflows a 64-bit integer",
                if dst.ascending() { "+" } else { "−" },
                offset
            ),
        );
    };
    row.target = Some(target);
    if target < dst.min || target > dst.max {
        return with(
            row,
            RowStatus::OutOfRange,
            format!(
                "target {target} is outside the destination's range {}..{} ({})",
                dst.min, dst.max, dst.data_type
            ),
        );
    }
    let past_target = if dst.ascending() {
        position > target as i128
    } else {
        position < target as i128
    };
    if position == target as i128 {
        return with(row, RowStatus::Unchanged, String::new());
    }
    if past_target && !allow_lower {
        let message = match dst.next_value() {
            // Front-end neutral: the CLI adds its flag, the TUI says the CLI is needed.
            Some(NextValue::Exhausted) => "the destination has handed out its last value; \
                 only setting it back to the target lets it go on"
                .to_string(),
            _ => "the destination is already past the target; lowering it could re-issue ids"
                .to_string(),
        };
        return with(row, RowStatus::Ahead, message);
    }
    if !dst.can_update {
        return with(
            row,
            RowStatus::NoPrivilege,
            format!(
                "cannot change the destination sequence: {}",
                dst.grant_needed("UPDATE", "<destination role>")
            ),
        );
    }
    if past_target {
        row.message = "moves the destination back (--allow-lower)".to_string();
    }
    row
}

fn with(mut row: PlanRow, status: RowStatus, message: String) -> PlanRow {
    row.status = status;
    row.message = message;
    row
}

fn direction(s: &Sequence) -> &'static str {
    if s.ascending() {
        "ascends"
    } else {
        "descends"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seq(name: &str, last: i64, called: bool, inc: i64, min: i64, max: i64) -> Sequence {
        Sequence::for_test(name, last, called, inc, min, max)
    }

    fn opts(offset: i64) -> PlanOptions {
        PlanOptions {
            offset: Offset::new(offset).unwrap(),
            allow_lower: false,
            scan_unindexed: false,
        }
    }

    proptest! {
        #[test]
        fn rows_sort_by_name_as_a_stable_sort_would(names in proptest::collection::vec((0u8..3, 0u8..6), 0..60)) {
            let rows: Vec<PlanRow> = names
                .iter()
                .enumerate()
                .map(|(i, (schema, name))| {
                    let mut row = plan_row(&format!("s{schema}"), &format!("n{name}"), None, None, opts(1).offset, false);
                    row.message = i.to_string();
                    row
                })
                .collect();
            let mut expected = rows.clone();
            expected.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
            let mut sorted = rows;
            sort_by_name(&mut sorted);
            prop_assert_eq!(sorted, expected);
        }
    }

    fn one(s: Sequence, d: Sequence, o: PlanOptions) -> PlanRow {
        let rows = plan(&[s], &[d], o);
        assert_eq!(rows.len(), 1);
        rows.into_iter().next().unwrap()
    }

    #[test]
    fn ascending_target_is_source_plus_offset() {
        let r = one(
            seq("a", 12_345, true, 1, 1, i64::MAX),
            seq("a", 3, true, 1, 1, i64::MAX),
            opts(10_000),
        );
        assert_eq!(
            (r.status, r.target, r.destination_before),
            (RowStatus::Update, Some(22_345), Some(4))
        );
    }

    #[test]
    fn descending_target_is_source_minus_offset() {
        let r = one(
            seq("d", -500, true, -3, i64::MIN, -1),
            seq("d", -10, true, -3, i64::MIN, -1),
            opts(1_000),
        );
        assert_eq!((r.status, r.target), (RowStatus::Update, Some(-1_500)));
    }

    #[test]
    fn unchanged_ahead_and_allow_lower() {
        let s = seq("a", 100, true, 1, 1, 1_000_000);
        let r = one(s.clone(), seq("a", 109, true, 1, 1, 1_000_000), opts(10));
        assert_eq!(r.status, RowStatus::Unchanged);
        let r = one(s.clone(), seq("a", 500, true, 1, 1, 1_000_000), opts(10));
        assert_eq!((r.status, r.target), (RowStatus::Ahead, Some(110)));
        let r = one(
            s,
            seq("a", 500, true, 1, 1, 1_000_000),
            PlanOptions {
                offset: Offset::new(10).unwrap(),
                allow_lower: true,
                scan_unindexed: false,
            },
        );
        assert_eq!((r.status, r.target), (RowStatus::Update, Some(110)));
        assert!(r.message.contains("allow-lower"));
    }

    #[test]
    fn out_of_range_on_bounds_and_on_overflow() {
        let r = one(
            seq("a", 32_000, true, 1, 1, 32_767),
            seq("a", 1, false, 1, 1, 32_767),
            opts(1_000),
        );
        assert_eq!((r.status, r.target), (RowStatus::OutOfRange, Some(33_000)));
        let r = one(
            seq("a", i64::MAX - 5, true, 1, 1, i64::MAX),
            seq("a", 1, false, 1, 1, i64::MAX),
            opts(10),
        );
        assert_eq!((r.status, r.target), (RowStatus::OutOfRange, None));
        assert!(r.message.contains("overflows"), "{}", r.message);
    }

    #[test]
    fn missing_on_either_side_and_privileges() {
        let rows = plan(
            &[
                seq("only_src", 1, true, 1, 1, 100),
                seq("both", 1, true, 1, 1, 100),
            ],
            &[
                seq("only_dst", 1, true, 1, 1, 100),
                seq("both", 1, true, 1, 1, 100),
            ],
            opts(5),
        );
        let statuses: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.status)).collect();
        assert_eq!(
            statuses,
            vec![
                ("both", RowStatus::Update),
                ("only_dst", RowStatus::MissingInSource),
                ("only_src", RowStatus::MissingInDestination)
            ]
        );
        let mut unreadable = seq("a", 1, true, 1, 1, 100);
        unreadable.can_read = false;
        unreadable.last_value = None;
        let r = one(unreadable, seq("a", 1, true, 1, 1, 100), opts(5));
        assert_eq!(r.status, RowStatus::NoPrivilege);
        assert!(r.message.contains("GRANT SELECT"));
        let mut locked = seq("a", 1, true, 1, 1, 100);
        locked.can_update = false;
        let r = one(seq("a", 50, true, 1, 1, 100), locked.clone(), opts(5));
        assert_eq!(r.status, RowStatus::NoPrivilege);
        assert!(r.message.contains("GRANT UPDATE"));
        // Nothing to change needs no privilege to change it.
        let r = one(
            seq("a", 1, true, 1, 1, 100),
            seq("a", 5, true, 1, 1, 100),
            opts(5),
        );
        assert_eq!(r.status, RowStatus::Unchanged);
        let _ = locked;
    }

    #[test]
    fn never_used_destination_counts_its_start_as_next() {
        let r = one(
            seq("a", 10, true, 1, 1, 100),
            seq("a", 15, false, 1, 1, 100),
            opts(5),
        );
        assert_eq!(
            (r.status, r.destination_before),
            (RowStatus::Unchanged, Some(15))
        );
    }

    #[test]
    fn exhausted_destination_is_ahead() {
        let r = one(
            seq("a", 10, true, 1, 1, 100),
            seq("a", 100, true, 1, 1, 100),
            opts(5),
        );
        assert_eq!(r.status, RowStatus::Ahead);
        assert!(r.message.contains("last value"));
    }

    fn any_sequence() -> impl Strategy<Value = Sequence> {
        (
            any::<bool>(),
            any::<i64>(),
            any::<i64>(),
            1i64..1_000,
            any::<bool>(),
            any::<bool>(),
            any::<i64>(),
        )
            .prop_map(|(ascending, a, b, step, called, cycle, last_seed)| {
                let (min, max) = if a <= b { (a, b) } else { (b, a) };
                let span = (max as i128 - min as i128 + 1) as u128;
                let last = (min as i128 + (last_seed as u64 as u128 % span) as i128) as i64;
                let mut s = seq(
                    "x",
                    last,
                    called,
                    if ascending { step } else { -step },
                    min,
                    max,
                );
                s.cycle = cycle;
                s
            })
    }

    proptest! {
        #[test]
        fn no_plan_lowers_or_leaves_bounds(
            src in any_sequence(),
            dst in any_sequence(),
            offset in prop_oneof![0i64..1_000_000, any::<i64>().prop_map(|v| v.saturating_abs())],
            allow_lower in any::<bool>(),
        ) {
            let row = one(src.clone(), dst.clone(), PlanOptions { offset: Offset::new(offset).unwrap(), allow_lower, scan_unindexed: false });
            if let Some(target) = row.target {
                let expected = if dst.ascending() {
                    src.last_value.unwrap() as i128 + offset as i128
                } else {
                    src.last_value.unwrap() as i128 - offset as i128
                };
                prop_assert_eq!(target as i128, expected);
            }
            if row.status == RowStatus::Update {
                let target = row.target.unwrap();
                prop_assert!(target >= dst.min && target <= dst.max);
                let position = dst.next_position().unwrap();
                if !allow_lower {
                    if dst.ascending() {
                        prop_assert!(target as i128 > position);
                    } else {
                        prop_assert!((target as i128) < position);
                    }
                }
                prop_assert_ne!(target as i128, position);
            }
            if row.status == RowStatus::Unchanged {
                prop_assert_eq!(row.target.map(|t| t as i128), dst.next_position());
            }
        }
    }

    #[test]
    fn unlogged_sequences_are_flagged_and_an_unavailable_value_says_why() {
        let mut src = seq("u", 42, true, 1, 1, i64::MAX);
        src.unlogged = true;
        let dst = seq("u", 1, false, 1, 1, i64::MAX);
        let r = one(src.clone(), dst.clone(), opts(10));
        assert_eq!((r.status, r.target), (RowStatus::Update, Some(52)));
        assert!(
            r.message.contains("unlogged in the source:"),
            "{}",
            r.message
        );
        let mut both = dst.clone();
        both.unlogged = true;
        let r = one(src.clone(), both, opts(10));
        assert!(
            r.message
                .contains("unlogged in the source and the destination"),
            "{}",
            r.message
        );
        src.extras_mut().unavailable = Some("on a standby".into());
        src.last_value = None;
        let r = one(src, dst, opts(10));
        assert_eq!((r.status, r.target), (RowStatus::Unavailable, None));
        assert!(r
            .message
            .contains("source sequence's value is not available: on a standby"));
        assert!(r.status.is_problem());
    }
}
