//! The repair planner's rules, one per test.

use super::*;
use crate::engine::model::{Extras, Name, OwnedBy};

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
    seq.extras = Extras {
        owned_by: fed.next(),
        default_for: fed.collect(),
        ..Extras::default()
    }
    .boxed();
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
    narrow.extras_mut().owned_by.as_mut().unwrap().column_type = "integer".into();
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
    secret.extras_mut().owned_by.as_mut().unwrap().readable = false;
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
        name: Name::default(),
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

#[test]
fn a_sequence_whose_columns_were_not_read_is_never_called_unchanged() {
    let left_out = feeding("left_out", 1, 1, 1, &["l"]);
    let rows = repair(&[left_out], HashMap::new(), 1000);
    assert_eq!(rows[0].status, RowStatus::Unavailable, "{:?}", rows[0]);
    assert_eq!(rows[0].target, None);
    assert!(
        rows[0].message.contains("plan again"),
        "{}",
        rows[0].message
    );
}
