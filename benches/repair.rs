//! `seqsync repair` of 10,000 sequences, each feeding an indexed column whose data is past it
//! (what a data-only copy leaves), beside the floor in the same run: every column's max read
//! with one statement per chunk and every sequence set with one `setval` over `unnest` per
//! chunk, nothing locked, planned or journaled. Run with `scripts/bench` (destination only).

mod common;

use common::{connect, env, env_or, median, ms};
use std::process::Command;
use std::time::{Duration, Instant};

const MARGIN: i64 = 1_000;
/// Tables per statement where one statement would otherwise lock more relations than the
/// default lock table holds (64 × max_connections).
const LOCK_CHUNK: i64 = 1_000;

fn url(base: &str) -> String {
    format!(
        "{}/seqsync_repair_bench",
        base.rsplit_once('/').expect("URL with a database").0
    )
}

fn ranges(count: i64) -> impl Iterator<Item = (i64, i64)> {
    (1..=count)
        .step_by(LOCK_CHUNK as usize)
        .map(move |start| (start, (start + LOCK_CHUNK - 1).min(count)))
}

/// `count` tables `t<i> (id bigserial PRIMARY KEY)`, each holding the id `i * 7`.
async fn setup(base: &str, count: i64) {
    let admin = connect(base).await;
    admin
        .batch_execute("DROP DATABASE IF EXISTS seqsync_repair_bench WITH (FORCE)")
        .await
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE seqsync_repair_bench")
        .await
        .unwrap();
    let db = connect(&url(base)).await;
    for (start, end) in ranges(count) {
        db.batch_execute(&format!(
            "DO $$ BEGIN FOR i IN {start}..{end} LOOP
               EXECUTE format('CREATE TABLE t%s (id bigserial PRIMARY KEY)', i);
               EXECUTE format('INSERT INTO t%s VALUES (%s)', i, i * 7);
             END LOOP; END $$;"
        ))
        .await
        .unwrap();
    }
    db.batch_execute("VACUUM ANALYZE").await.unwrap();
}

/// Every sequence back at its start, never called, then a checkpoint so each variant pays the
/// same full-page writes.
async fn reset(base: &str, count: i64) {
    let db = connect(&url(base)).await;
    for (start, end) in ranges(count) {
        db.batch_execute(&format!(
            "SELECT count(setval(format('t%s_id_seq', i)::regclass, 1, false)) \
             FROM generate_series({start}, {end}) i"
        ))
        .await
        .unwrap();
    }
    db.batch_execute("CHECKPOINT").await.unwrap();
}

/// The floor: read each column's max, one statement per chunk; set each sequence past it.
async fn floor(base: &str, count: i64) -> Duration {
    let started = Instant::now();
    let db = connect(&url(base)).await;
    for (start, end) in ranges(count) {
        let reads: Vec<String> = (start..=end)
            .map(|i| format!("(SELECT max(id) FROM t{i})"))
            .collect();
        let maxima: Vec<i64> = db
            .query_one(&format!("SELECT ARRAY[{}]::int8[]", reads.join(", ")), &[])
            .await
            .unwrap()
            .get(0);
        let names: Vec<String> = (start..=end).map(|i| format!("t{i}_id_seq")).collect();
        let targets: Vec<i64> = maxima.iter().map(|m| m + MARGIN + 1).collect();
        db.query_one(
            "SELECT count(setval(n::regclass, v, false)) FROM unnest($1::text[], $2::int8[]) AS u(n, v)",
            &[&names, &targets],
        )
        .await
        .unwrap();
    }
    started.elapsed()
}

/// `seqsync repair --yes` as a user runs it; checks how many rows it set.
fn repair(base: &str, journal: &std::path::Path, expect_updated: i64) -> Duration {
    let margin = MARGIN.to_string();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .args(["repair", "--destination", &url(base), "--margin", &margin])
        .args(["--yes", "--format", "json"])
        .env("SEQSYNC_JOURNAL", journal)
        .env("HOME", journal.parent().unwrap())
        .env_remove("SEQSYNC_CONFIG")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let updated = json["summary"]["updated"].as_i64().unwrap_or(0);
    assert_eq!(updated, expect_updated, "{}", json["summary"]);
    elapsed
}

/// Fails unless a spread of sequences hands out `i * 7 + MARGIN + 1` next.
async fn verify(base: &str, count: i64) {
    let db = connect(&url(base)).await;
    for i in (1..=count).step_by((count as usize / 10).max(1)) {
        let next: i64 = db
            .query_one(&format!("SELECT nextval('t{i}_id_seq')"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(next, i * 7 + MARGIN + 1, "t{i}_id_seq");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = env("SEQSYNC_BENCH_DESTINATION");
    let count: i64 = env_or("SEQSYNC_BENCH_SEQUENCES", 10_000);
    let rounds: usize = env_or("SEQSYNC_BENCH_ROUNDS", 5);
    let work = std::env::temp_dir().join(format!("seqsync-repair-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let journal = work.join("journal.jsonl");
    eprintln!("creating {count} tables with a bigserial primary key…");
    setup(&base, count).await;
    let names = [
        "floor: read every max, one setval over unnest (per 1,000)",
        "seqsync repair --yes, every sequence behind its data",
        "seqsync repair --yes, nothing behind (a healthy database)",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![vec![]; names.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        reset(&base, count).await;
        samples[0].push(floor(&base, count).await);
        reset(&base, count).await;
        samples[1].push(repair(&base, &journal, count));
        verify(&base, count).await;
        connect(&url(&base))
            .await
            .batch_execute("CHECKPOINT")
            .await
            .unwrap();
        samples[2].push(repair(&base, &journal, 0));
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    println!(
        "seqsync repair benchmark: {count} sequences feeding indexed bigint columns, loopback, durable settings, {rounds} rounds, median (min)"
    );
    for (i, name) in names.iter().enumerate() {
        let min = *samples[i].iter().min().unwrap();
        println!(
            "  {name:<58} {:>8} ({:>7})  {:>5.2}× floor",
            ms(medians[i]),
            ms(min),
            medians[i].as_secs_f64() / medians[0].as_secs_f64(),
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
