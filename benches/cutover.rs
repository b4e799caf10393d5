//! A live cutover under load, measured (run with `scripts/bench`, durable clusters): writers
//! insert into the source through real logical replication while `seqsync sync` runs, then
//! switch to the destination. Each round runs the same sync with no writers (its baseline) and
//! with writers, interleaved; printed: insert rates before and during the sync, sync time with
//! and without load, writes absorbed by the offset, duplicate keys after the switch, ids skipped.

#[path = "../tests/common/cutover.rs"]
#[allow(dead_code)]
mod cutover;

use cutover::{Cutover, CutoverReport, Guard, OffsetChoice};
use std::time::Duration;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let get =
        |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run scripts/bench"));
    let (source_admin, destination_admin) = (
        get("SEQSYNC_BENCH_SOURCE"),
        get("SEQSYNC_BENCH_DESTINATION"),
    );
    let rounds: usize = std::env::var("SEQSYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let extra_sequences = 5_000;
    let offset = 1_000_000;
    let dir = std::env::temp_dir().join(format!("seqsync-bench-cutover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let load_levels = [0usize, 4, 16];
    let mut results: Vec<Vec<CutoverReport>> = vec![vec![]; load_levels.len()];
    for round in 0..rounds {
        for (k, &writers) in load_levels.iter().enumerate() {
            let report = Cutover {
                source_admin: source_admin.clone(),
                destination_admin: destination_admin.clone(),
                database: "seqsync_cutover".into(),
                seqsync: env!("CARGO_BIN_EXE_seqsync").to_string(),
                dir: dir.clone(),
                writers,
                offset: OffsetChoice::Fixed(offset),
                guard: Guard::Sync,
                warm_up: Duration::from_millis(1_500),
                after_sync: Duration::from_millis(500),
                inserts_after_switch: 250,
                extra_sequences,
            }
            .run()
            .await;
            assert_eq!(report.sync_exit, 0, "{}", report.sync_stderr);
            assert!(report.other_errors.is_empty(), "{:?}", report.other_errors);
            eprintln!(
                "round {} writers {writers}: sync {:?}, {} duplicate keys",
                round + 1,
                report.sync,
                report.duplicate_keys
            );
            results[k].push(report);
        }
    }
    let quiet_sync = median(results[0].iter().map(|r| r.sync.as_secs_f64()).collect());
    println!(
        "cutover: {} tables (serial, bigserial, identity, descending) + {extra_sequences} sequences, offset {offset}, {rounds} rounds, medians",
        cutover::TABLES.len()
    );
    println!(
        "{:>8} {:>14} {:>14} {:>7} {:>10} {:>8} {:>12} {:>11} {:>10} {:>14}",
        "writers",
        "inserts/s",
        "during sync",
        "ratio",
        "sync ms",
        "vs idle",
        "after sync",
        "switched",
        "dup keys",
        "ids skipped"
    );
    for (k, &writers) in load_levels.iter().enumerate() {
        let r = &results[k];
        let baseline = median(r.iter().map(|r| r.baseline_rate).collect());
        let during = median(r.iter().map(|r| r.rate_during_sync).collect());
        let sync = median(r.iter().map(|r| r.sync.as_secs_f64()).collect());
        let after = median(r.iter().map(|r| r.writes_after_sync as f64).collect());
        let switched: u64 = r.iter().map(|r| r.inserts_after_switch).sum();
        let duplicates: u64 = r.iter().map(|r| r.duplicate_keys).sum();
        let skipped = median(
            r.iter()
                .flat_map(|r| r.wasted_ids.iter().map(|w| w.1 as f64))
                .collect(),
        );
        println!(
            "{writers:>8} {baseline:>14.0} {during:>14.0} {:>7} {:>10.0} {:>7.2}× {after:>12.0} {switched:>11} {duplicates:>10} {:>14}",
            if writers == 0 { "-".to_string() } else { format!("{:.2}", during / baseline) },
            sync * 1e3,
            sync / quiet_sync,
            if writers == 0 { "-".to_string() } else { format!("{skipped:.0}") },
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
