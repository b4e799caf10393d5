//! `seqsync sync` end to end against its baselines, side by side in one run (machines here are
//! noisy, so only ratios measured together mean much). Run with `scripts/bench`, which starts two
//! durable PostgreSQL clusters (fsync and full_page_writes on) on loopback.
//!
//! Every variant starts from the same destination state and right after a CHECKPOINT, so each
//! pays the same full-page writes, and the variants are interleaved round by round.

mod common;

use common::{connect, env, env_or, median, ms, set_all, DestinationState, Fixture};
use std::process::Command;
use std::time::{Duration, Instant};

/// The set-only floor: every target in one statement on a fresh connection, nothing read.
async fn floor(bench: &Fixture) -> Duration {
    let (names, values) = bench.targets();
    let started = Instant::now();
    let dst = connect(&bench.destination()).await;
    set_all(&dst, &names, &values).await;
    started.elapsed()
}

/// The usual runbook: one `setval` per sequence in one transaction, run by psql.
fn psql_script(bench: &Fixture, path: &std::path::Path) {
    let (names, values) = bench.targets();
    let mut script = String::from("BEGIN;\n");
    for (n, v) in names.iter().zip(values) {
        script.push_str(&format!("SELECT setval('{n}', {v}, false);\n"));
    }
    script.push_str("COMMIT;\n");
    std::fs::write(path, script).unwrap();
}

fn psql(bench: &Fixture, path: &std::path::Path) -> Duration {
    let started = Instant::now();
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f"])
        .arg(path)
        .arg(bench.destination())
        .output()
        .expect("psql on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// The cold job floor with the promise seqsync keeps under lock, and nothing else: the same two
/// new connections and reads, then per 2,500 sequences (seqsync's batch) one transaction that
/// locks them as `setval` does and reads each exact state under that lock (the statement
/// seqsync's apply runs on 18: a copy of `LOCK_AND_DATA_SQL` in src/engine/postgres/read.rs,
/// which is private to the engine; keep the two alike), then sets them. No journal, no
/// catalogue re-check, no read-back, no matching, no output. PostgreSQL 18 only: it measures how
/// much of the gap to the cold floor the locked re-read itself is.
async fn guarded_cold_floor(bench: &Fixture) -> Duration {
    const LOCK_AND_READ: &str = "SELECT l.v, d.last_value, d.is_called \
         FROM unnest($1::oid[]) WITH ORDINALITY AS u(o, i) \
         CROSS JOIN LATERAL (SELECT pg_catalog.pg_sequence_last_value(u.o) AS v) l \
         LEFT JOIN LATERAL (SELECT g.last_value, g.is_called \
                            FROM pg_catalog.pg_get_sequence_data(u.o::regclass) g \
                            WHERE l.v IS NULL OFFSET 0) d ON true \
         ORDER BY u.i";
    let read = "SELECT c.oid, c.relname::text, d.last_value FROM pg_class c \
         CROSS JOIN LATERAL pg_get_sequence_data(c.oid::regclass) d WHERE c.relkind = 'S' \
         ORDER BY c.relname";
    let (source_url, destination_url) = (bench.source(), bench.destination());
    let started = Instant::now();
    let (src, dst) = tokio::join!(connect(&source_url), connect(&destination_url));
    let (source, destination) = tokio::join!(src.query(read, &[]), dst.query(read, &[]));
    let (source, destination) = (source.unwrap(), destination.unwrap());
    assert_eq!(source.len(), destination.len());
    let oids: Vec<u32> = destination.iter().map(|r| r.get(0)).collect();
    let values: Vec<i64> = source
        .iter()
        .map(|r| r.get::<_, Option<i64>>(2).unwrap_or(0) + bench.offset)
        .collect();
    for (oids, values) in oids.chunks(2_500).zip(values.chunks(2_500)) {
        dst.batch_execute("BEGIN").await.unwrap();
        let locked = dst.query(LOCK_AND_READ, &[&oids]).await.unwrap();
        assert_eq!(locked.len(), oids.len());
        dst.query_one(
            "SELECT count(setval(o::regclass, v, true)) FROM unnest($1::oid[], $2::int8[]) AS u(o, v)",
            &[&oids, &values],
        )
        .await
        .unwrap();
        dst.batch_execute("COMMIT").await.unwrap();
    }
    started.elapsed()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bench = Fixture {
        source_url: env("SEQSYNC_BENCH_SOURCE"),
        destination_url: env("SEQSYNC_BENCH_DESTINATION"),
        count: env_or("SEQSYNC_BENCH_SEQUENCES", 10_000),
        offset: 10_000,
    };
    let rounds: usize = env_or("SEQSYNC_BENCH_ROUNDS", 5);
    let work = std::env::temp_dir().join(format!("seqsync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let script = work.join("setval.sql");
    let journal = work.join("journal.jsonl");

    eprintln!("setting up {} sequences on each side…", bench.count);
    bench.setup().await;
    psql_script(&bench, &script);

    let version = bench.server_version().await;
    let exact = version >= 180_000;
    let (job_src, job_dst) = (
        connect(&bench.source()).await,
        connect(&bench.destination()).await,
    );
    let names = [
        "floor: one setval over unnest, one statement (not atomic)",
        if exact {
            "job floor: read both sides exactly, set, open connections"
        } else {
            "job floor: read both (last_value only), set, open connections"
        },
        "cold job floor, destination never used",
        "cold job floor, destination already called",
        "psql script: one setval per sequence, one transaction",
        "seqsync sync, destination never used (after a migration)",
        "seqsync sync, destination already called (a rerun)",
        "seqsync plan (reads both sides, changes nothing)",
        "cold floor + lock and exact re-read per batch, never used (18)",
        "cold floor + lock and exact re-read per batch, called (18)",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![vec![]; names.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        bench.reset(DestinationState::NeverUsed).await;
        samples[0].push(floor(&bench).await);
        bench.reset(DestinationState::NeverUsed).await;
        samples[1].push(bench.job_floor(&job_src, &job_dst, exact, false).await);
        bench.reset(DestinationState::NeverUsed).await;
        samples[2].push(bench.cold_job_floor(exact).await);
        bench.reset(DestinationState::Called).await;
        samples[3].push(bench.cold_job_floor(exact).await);
        bench.reset(DestinationState::NeverUsed).await;
        samples[4].push(psql(&bench, &script));
        // Each sync with an empty journal, as a first run on a host.
        let _ = std::fs::remove_file(&journal);
        bench.reset(DestinationState::NeverUsed).await;
        samples[5].push(bench.seqsync("sync", &journal).elapsed);
        bench.verify().await;
        let _ = std::fs::remove_file(&journal);
        bench.reset(DestinationState::Called).await;
        samples[6].push(bench.seqsync("sync", &journal).elapsed);
        bench.verify().await;
        bench.reset(DestinationState::NeverUsed).await;
        samples[7].push(bench.seqsync("plan", &journal).elapsed);
        if exact {
            bench.reset(DestinationState::NeverUsed).await;
            samples[8].push(guarded_cold_floor(&bench).await);
            bench.reset(DestinationState::Called).await;
            samples[9].push(guarded_cold_floor(&bench).await);
        }
    }
    if !exact {
        // Before 18 there is no one-statement exact read under the lock to measure.
        samples.truncate(8);
    }
    // Round by round, before the samples are sorted: each sync against the floor of the same
    // state measured minutes apart in the same round, which a machine's drift moves less.
    let paired = |sync: usize, floor: usize| -> f64 {
        let mut ratios: Vec<f64> = samples[sync]
            .iter()
            .zip(&samples[floor])
            .map(|(s, f)| s.as_secs_f64() / f.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    let paired_goal = [paired(5, 2), paired(6, 3)];
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    println!(
        "seqsync benchmark: PostgreSQL {}, {} sequences per side, loopback, durable settings, {rounds} rounds, median (min)",
        version / 10_000,
        bench.count
    );
    for (i, name) in names.iter().enumerate().take(medians.len()) {
        let min = *samples[i].iter().min().unwrap();
        println!(
            "  {name:<62} {:>8} ({:>7})  {:>5.2}× floor  {:>5.2}× job floor",
            ms(medians[i]),
            ms(min),
            medians[i].as_secs_f64() / medians[0].as_secs_f64(),
            medians[i].as_secs_f64() / medians[1].as_secs_f64()
        );
    }
    // The goal: each sync within 1.2× the cold job floor from the same destination state.
    for ((sync, floor, state), paired) in [(5, 2, "never used"), (6, 3, "already called")]
        .into_iter()
        .zip(paired_goal)
    {
        let best = |i: usize| samples[i].iter().min().unwrap().as_secs_f64();
        println!(
            "  sync against the cold job floor, destination {state:<15} {:>5.2}× (goal ≤ 1.20×); \
             round by round {paired:.2}×, best against best {:.2}×",
            medians[sync].as_secs_f64() / medians[floor].as_secs_f64(),
            best(sync) / best(floor)
        );
    }
    if exact {
        for (sync, floor, state) in [(5, 8, "never used"), (6, 9, "already called")] {
            println!(
                "  sync against the floor with the locked re-read, {state:<15} {:>5.2}×",
                medians[sync].as_secs_f64() / medians[floor].as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
