//! The planner's cost of pairing sequences through the columns they feed, beside pairing the
//! same sequences by name alone, in one run: 100,000 sequences a side, each feeding its own
//! table's `id` (plus every tenth one a second table through a DEFAULT), every tenth renamed on
//! the destination so only its column pairs it. The baseline is the same plan with no columns.
//! No database. Run with `cargo bench --bench matching`.

use seqsync::engine::model::{Extras, OwnedBy, Sequence};
use seqsync::engine::offset::Offset;
use seqsync::engine::plan::{plan, PlanOptions};
use std::time::{Duration, Instant};

fn sequence(name: &str, table: Option<&str>, last: i64) -> Sequence {
    let column = |table: &str| OwnedBy {
        schema: "public".into(),
        table: table.into(),
        column: "id".into(),
        identity: false,
        indexed: true,
        readable: true,
        column_type: "bigint".into(),
    };
    Sequence {
        oid: 0,
        schema: "public".into(),
        name: name.into(),
        data_type: "bigint".into(),
        start: 1,
        min: 1,
        max: i64::MAX,
        increment: 1,
        cycle: false,
        cache: 1,
        last_value: Some(last),
        is_called: true,
        can_read: true,
        can_update: true,
        schema_usable: true,
        unlogged: false,
        extras: Extras {
            owned_by: table.map(column),
            default_for: table
                .filter(|t| t.ends_with('0'))
                .map(|t| vec![column(&format!("{t}_archive"))])
                .unwrap_or_default(),
            ..Extras::default()
        }
        .boxed(),
    }
}

fn sides(count: usize, columns: bool) -> (Vec<Sequence>, Vec<Sequence>) {
    let table = |i: usize| columns.then(|| format!("t{i}"));
    let source = (0..count)
        .map(|i| sequence(&format!("t{i}_id_seq"), table(i).as_deref(), i as i64 + 100))
        .collect();
    let destination = (0..count)
        .map(|i| {
            // Renamed where the columns pair them; by name every sequence keeps its name.
            let name = if columns && i % 10 == 0 {
                format!("t{i}_id_seq1")
            } else {
                format!("t{i}_id_seq")
            };
            sequence(&name, table(i).as_deref(), 1)
        })
        .collect();
    (source, destination)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let count: usize = std::env::var("SEQSYNC_BENCH_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let options = PlanOptions {
        offset: Offset::new(10_000).unwrap(),
        allow_lower: false,
        scan_unindexed: false,
    };
    let by_name = sides(count, false);
    let by_column = sides(count, true);
    let (mut names, mut columns) = (vec![], vec![]);
    for _ in 0..7 {
        let started = Instant::now();
        let rows = plan(&by_name.0, &by_name.1, options);
        names.push(started.elapsed());
        assert_eq!(rows.len(), count);
        let started = Instant::now();
        let rows = plan(&by_column.0, &by_column.1, options);
        columns.push(started.elapsed());
        // Every sequence paired (renamed ones through their column), none missing.
        assert_eq!(rows.len(), count);
        assert!(rows
            .iter()
            .all(|r| r.target == r.source_value.map(|v| v + 10_000)));
    }
    let (names, columns) = (median(names), median(columns));
    println!("plan of {count} sequences a side, medians of 7:");
    println!(
        "  by name only (no columns)          {:>8.1} ms",
        names.as_secs_f64() * 1e3
    );
    println!(
        "  through columns (10% renamed)      {:>8.1} ms  ({:.2}× the name-only plan)",
        columns.as_secs_f64() * 1e3,
        columns.as_secs_f64() / names.as_secs_f64()
    );
}
