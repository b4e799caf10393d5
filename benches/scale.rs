//! How `seqsync sync` grows with the number of sequences: 10,000, 50,000 and 100,000 by
//! default (`SEQSYNC_BENCH_SCALE`), at default server settings, beside the job floor measured at
//! the same size in the same run. Prints time, time per sequence, and the seqsync process's
//! peak memory; linear growth shows as a flat time per sequence. Run with `scripts/bench`.
//! The job floor here sets 2,500 sequences per statement: one `setval` over 50,000 overflows a
//! default lock table ("out of shared memory"), so the one-statement floor does not exist there.

mod common;

use common::{connect, env, env_or, median, ms, DestinationState, Fixture};
use std::time::Duration;

struct Measured {
    count: i64,
    job_floor: Duration,
    sync: Duration,
    plan: Duration,
    sync_peak_kib: i64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    common::measure_if_asked();
    let counts: Vec<i64> = std::env::var("SEQSYNC_BENCH_SCALE")
        .unwrap_or_else(|_| "10000 50000 100000".into())
        .split_whitespace()
        .map(|c| c.parse().expect("SEQSYNC_BENCH_SCALE: counts"))
        .collect();
    let rounds: usize = env_or("SEQSYNC_BENCH_ROUNDS", 3);
    let work = std::env::temp_dir().join(format!("seqsync-scale-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let journal = work.join("journal.jsonl");

    let mut measured = Vec::new();
    let mut version = 0;
    for &count in &counts {
        let bench = Fixture {
            source_url: env("SEQSYNC_BENCH_SOURCE"),
            destination_url: env("SEQSYNC_BENCH_DESTINATION"),
            count,
            offset: 10_000,
        };
        eprintln!("setting up {count} sequences on each side…");
        bench.setup().await;
        version = bench.server_version().await;
        let (job_src, job_dst) = (
            connect(&bench.source()).await,
            connect(&bench.destination()).await,
        );
        let (mut floor, mut sync, mut plan, mut peak) = (vec![], vec![], vec![], 0);
        for round in 0..rounds {
            eprintln!("{count}: round {}/{rounds}", round + 1);
            bench.reset(DestinationState::NeverUsed).await;
            floor.push(
                bench
                    .job_floor(&job_src, &job_dst, version >= 180_000, true)
                    .await,
            );
            bench.reset(DestinationState::NeverUsed).await;
            let run = bench.seqsync_measured("sync", &journal);
            bench.verify().await;
            sync.push(run.elapsed);
            peak = peak.max(run.peak_kib.expect("measured"));
            bench.reset(DestinationState::NeverUsed).await;
            plan.push(bench.seqsync("plan", &journal).elapsed);
        }
        measured.push(Measured {
            count,
            job_floor: median(&mut floor),
            sync: median(&mut sync),
            plan: median(&mut plan),
            sync_peak_kib: peak,
        });
        // Each size's journal is its own: the journal's growth is not what is measured here.
        let _ = std::fs::remove_file(&journal);
    }

    println!(
        "seqsync scale: PostgreSQL {}, destination never used, loopback, durable settings, {rounds} rounds, medians",
        version / 10_000
    );
    println!(
        "  {:>9}  {:>10}  {:>10}  {:>10}  {:>9}  {:>12}  {:>13}  {:>10}",
        "sequences",
        "job floor",
        "sync",
        "plan",
        "×floor",
        "sync µs/seq",
        "growth×/seq",
        "peak RSS"
    );
    let per_sequence = |m: &Measured| m.sync.as_secs_f64() * 1e6 / m.count as f64;
    let first = per_sequence(&measured[0]);
    for m in &measured {
        println!(
            "  {:>9}  {:>10}  {:>10}  {:>10}  {:>8.2}×  {:>12.1}  {:>12.2}×  {:>7.1} MiB",
            m.count,
            ms(m.job_floor),
            ms(m.sync),
            ms(m.plan),
            m.sync.as_secs_f64() / m.job_floor.as_secs_f64(),
            per_sequence(m),
            per_sequence(m) / first,
            m.sync_peak_kib as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
