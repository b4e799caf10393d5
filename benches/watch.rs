//! What Keep Sequences Ahead costs at 10,000 sequences, beside a plain `seqsync sync` of the same
//! set in the same run: a watch's first round (every sequence bumped), an idle round (nothing
//! moved: two reads, no write), and a round after every source sequence moved (everything
//! bumped again). Round times are the watch's own (`took_ms`: status, both reads, the plan, the
//! apply and the read-back; no process start); the sync is timed from outside, as a user runs
//! it. The read floor is the two catalogue reads alone on open connections that have read
//! once already, as the watch's kept sessions have (goal: an idle round within 1.3× of it).

mod common;

use common::{connect, env, env_or, median, ms, DestinationState, Fixture, CHUNK};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The two reads an idle round cannot avoid, on open connections that have read once already
/// (as a watch's kept sessions have): the second pair of reads is timed.
async fn read_floor(bench: &Fixture) -> Duration {
    let (src, dst) = (
        connect(&bench.source()).await,
        connect(&bench.destination()).await,
    );
    let read = "SELECT c.relname::text, pg_sequence_last_value(c.oid) FROM pg_class c \
                WHERE c.relkind = 'S'";
    let mut took = Duration::ZERO;
    for _ in 0..2 {
        let started = Instant::now();
        let (a, b) = tokio::join!(src.query(read, &[]), dst.query(read, &[]));
        took = started.elapsed();
        assert_eq!(
            a.unwrap().len() + b.unwrap().len(),
            2 * bench.count as usize
        );
    }
    took
}

/// Moves every source sequence forward by `step`.
async fn move_source(bench: &Fixture, step: i64) {
    let src = connect(&bench.source()).await;
    for start in (1..=bench.count).step_by(CHUNK as usize) {
        let end = (start + CHUNK - 1).min(bench.count);
        src.batch_execute(&format!(
            "SELECT count(setval(format('s%s', i)::regclass, i * 7 + {step})) \
             FROM generate_series({start}, {end}) i"
        ))
        .await
        .unwrap();
    }
}

struct Rounds {
    first: Duration,
    idle: Duration,
    bumping: Duration,
}

/// One watch: its first round, three idle rounds (median), then a round after the source moved.
async fn watch(bench: &Fixture, journal: &std::path::Path, step: i64) -> Rounds {
    let offset = bench.offset.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .args(["watch", "--source", &bench.source()])
        .args(["--destination", &bench.destination(), "--offset", &offset])
        .args(["--interval", "2s", "--yes", "--format", "json"])
        .env("SEQSYNC_JOURNAL", journal)
        .env("HOME", journal.parent().unwrap())
        .env_remove("SEQSYNC_CONFIG")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_round = || -> serde_json::Value {
        let line = lines.next().expect("the watch ended").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"], "round", "{event}");
        event
    };
    let took = |round: &serde_json::Value| {
        Duration::from_secs_f64(round["took_ms"].as_f64().unwrap() / 1000.0)
    };
    let first = next_round();
    assert_eq!(first["applied"], bench.count, "{first}");
    let lines = || std::fs::read_to_string(journal).unwrap().lines().count();
    let journaled = lines();
    let mut idle = vec![];
    for _ in 0..3 {
        let round = next_round();
        assert_eq!(round["applied"], 0, "{round}");
        idle.push(took(&round));
    }
    assert_eq!(lines(), journaled, "idle rounds journal nothing");
    // Within the 2 s before the next round: the source moves, the destination checkpoints.
    move_source(bench, step).await;
    connect(&bench.destination())
        .await
        .batch_execute("CHECKPOINT")
        .await
        .unwrap();
    let bumping = next_round();
    assert_eq!(bumping["applied"], bench.count, "{bumping}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    Rounds {
        first: took(&first),
        idle: median(&mut idle),
        bumping: took(&bumping),
    }
}

#[tokio::main]
async fn main() {
    let bench = Fixture {
        source_url: env("SEQSYNC_BENCH_SOURCE"),
        destination_url: env("SEQSYNC_BENCH_DESTINATION"),
        count: env_or("SEQSYNC_BENCH_SEQUENCES", 10_000),
        offset: 1_000,
    };
    let rounds: usize = env_or("SEQSYNC_BENCH_ROUNDS", 5);
    bench.setup().await;
    let dir = std::env::temp_dir().join(format!("seqsync-bench-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.jsonl");
    let (mut sync, mut first, mut idle, mut bumping, mut floor) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        // Each round starts from the same source values and destination state.
        move_source(&bench, 0).await;
        bench.reset(DestinationState::Called).await;
        sync.push(bench.seqsync("sync", &journal).elapsed);
        bench.reset(DestinationState::Called).await;
        let w = watch(&bench, &journal, 1 + round as i64).await;
        first.push(w.first);
        idle.push(w.idle);
        bumping.push(w.bumping);
        floor.push(read_floor(&bench).await);
    }
    let sync = median(&mut sync);
    let row = |what: &str, d: Duration| {
        println!(
            "{what:<44} {:>9}   {:>5.2}× sync",
            ms(d),
            d.as_secs_f64() / sync.as_secs_f64()
        )
    };
    println!(
        "watch at {} sequences, medians of {rounds} (PostgreSQL {}):",
        bench.count,
        bench.server_version().await / 10_000
    );
    row("seqsync sync (whole process, baseline)", sync);
    row(
        "watch: first round (every sequence bumped)",
        median(&mut first),
    );
    row(
        "watch: round after every source moved",
        median(&mut bumping),
    );
    let (idle, floor) = (median(&mut idle), median(&mut floor));
    row("watch: idle round (nothing moved)", idle);
    row("read floor: the two reads on open connections", floor);
    println!(
        "idle round against the read floor: {:.2}× (goal ≤ 1.30×)",
        idle.as_secs_f64() / floor.as_secs_f64()
    );
    println!("idle rounds journaled nothing (checked every round)");
    let _ = std::fs::remove_dir_all(&dir);
}
