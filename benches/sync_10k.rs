//! `seqsync sync` end to end against its baselines, side by side in one run (machines here are
//! noisy, so only ratios measured together mean much). Run with `scripts/bench`, which starts two
//! durable PostgreSQL clusters (fsync and full_page_writes on) on loopback.
//!
//! Every variant starts from the same destination state and right after a CHECKPOINT, so each
//! pays the same full-page writes, and the variants are interleaved round by round.

use std::process::Command;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

struct Bench {
    source_url: String,
    destination_url: String,
    count: i64,
    offset: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum DestinationState {
    /// Never called, as after a migration filled the tables with explicit ids.
    NeverUsed,
    /// Already called (a rerun, or applications used it).
    Called,
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn with_database(url: &str, db: &str) -> String {
    format!(
        "{}/{db}",
        url.rsplit_once('/').expect("URL with a database").0
    )
}

impl Bench {
    async fn setup(&self) {
        for url in [&self.source_url, &self.destination_url] {
            let admin = connect(url).await;
            admin
                .batch_execute("DROP DATABASE IF EXISTS seqsync_bench WITH (FORCE)")
                .await
                .unwrap();
            admin
                .batch_execute("CREATE DATABASE seqsync_bench")
                .await
                .unwrap();
            let db = connect(&with_database(url, "seqsync_bench")).await;
            for start in (1..=self.count).step_by(2_500) {
                let end = (start + 2_499).min(self.count);
                db.batch_execute(&format!(
                    "DO $$ BEGIN FOR i IN {start}..{end} LOOP \
                     EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$"
                ))
                .await
                .unwrap();
            }
        }
        let src = connect(&self.source()).await;
        src.batch_execute(&format!(
            "SELECT count(setval(format('s%s', i)::regclass, i * 7)) FROM generate_series(1, {}) i",
            self.count
        ))
        .await
        .unwrap();
    }

    fn source(&self) -> String {
        with_database(&self.source_url, "seqsync_bench")
    }

    fn destination(&self) -> String {
        with_database(&self.destination_url, "seqsync_bench")
    }

    /// Puts every destination sequence back in `state` at a low value, then checkpoints.
    async fn reset(&self, state: DestinationState) {
        let dst = connect(&self.destination()).await;
        let called = state == DestinationState::Called;
        dst.batch_execute(&format!(
            "SELECT count(setval(format('s%s', i)::regclass, 1, {called})) FROM generate_series(1, {}) i",
            self.count
        ))
        .await
        .unwrap();
        dst.batch_execute("CHECKPOINT").await.unwrap();
    }

    /// Targets as seqsync computes them: the source's value plus the offset.
    fn targets(&self) -> (Vec<String>, Vec<i64>) {
        (1..=self.count)
            .map(|i| (format!("s{i}"), i * 7 + self.offset))
            .unzip()
    }

    async fn floor(&self) -> Duration {
        let (names, values) = self.targets();
        let started = Instant::now();
        let dst = connect(&self.destination()).await;
        set_all(&dst, &names, &values).await;
        started.elapsed()
    }

    /// The job itself on open connections, nothing else: one query reading the source values,
    /// one reading the destination states, one setval over unnest. On PostgreSQL 18 the reads
    /// are exact (`pg_get_sequence_data`); older servers have no one-query exact read of a
    /// never-called sequence, so there it reads `pg_sequence_last_value` only (NULL for those):
    /// a lower bound for any exact read.
    async fn job_floor(&self, src: &Client, dst: &Client, exact: bool) -> Duration {
        let read = if exact {
            "SELECT c.relname::text, d.last_value, d.is_called FROM pg_class c \
             CROSS JOIN LATERAL pg_get_sequence_data(c.oid::regclass) d WHERE c.relkind = 'S'"
        } else {
            "SELECT c.relname::text, pg_sequence_last_value(c.oid), true FROM pg_class c \
             WHERE c.relkind = 'S'"
        };
        let started = Instant::now();
        let (source, destination) = tokio::join!(src.query(read, &[]), dst.query(read, &[]));
        let (source, destination) = (source.unwrap(), destination.unwrap());
        assert_eq!(destination.len() as i64, self.count);
        let names: Vec<String> = source.iter().map(|r| r.get(0)).collect();
        let values: Vec<i64> = source
            .iter()
            .map(|r| r.get::<_, Option<i64>>(1).unwrap_or(0) + self.offset)
            .collect();
        set_all(dst, &names, &values).await;
        started.elapsed()
    }

    fn psql_script(&self, path: &std::path::Path) {
        let (names, values) = self.targets();
        let mut script = String::from("BEGIN;\n");
        for (n, v) in names.iter().zip(values) {
            script.push_str(&format!("SELECT setval('{n}', {v}, false);\n"));
        }
        script.push_str("COMMIT;\n");
        std::fs::write(path, script).unwrap();
    }

    fn psql(&self, path: &std::path::Path) -> Duration {
        let started = Instant::now();
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f"])
            .arg(path)
            .arg(self.destination())
            .output()
            .expect("psql on PATH");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }

    fn seqsync(&self, verb: &str, journal: &std::path::Path) -> Duration {
        let offset = self.offset.to_string();
        let mut args = vec![
            verb,
            "--source",
            &self.source(),
            "--destination",
            &self.destination(),
            "--offset",
            &offset,
            "--format",
            "json",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if verb == "sync" {
            args.push("--yes".into());
        }
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_seqsync"))
            .args(&args)
            .env("SEQSYNC_JOURNAL", journal)
            .env("HOME", journal.parent().unwrap())
            .env_remove("SEQSYNC_CONFIG")
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "seqsync {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let expected = if verb == "sync" { "updated" } else { "update" };
        assert_eq!(json["summary"][expected], self.count, "{}", json["summary"]);
        elapsed
    }

    async fn verify(&self) {
        let dst = connect(&self.destination()).await;
        for start in (1..=self.count).step_by(2_000) {
            let end = (start + 1_999).min(self.count);
            // Sequences are stored as "called" one step before the target, so last_value + 1.
            let mismatched: i64 = dst
                .query_one(
                    &format!(
                        "SELECT count(*) FROM generate_series({start}, {end}) i \
                         WHERE pg_sequence_last_value(format('s%s', i)::regclass) IS DISTINCT FROM i * 7 + {} - 1",
                        self.offset
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(mismatched, 0, "every next value is at its target");
        }
    }
}

/// Every named sequence's next value, in one `setval` over `unnest` (not atomic).
async fn set_all(dst: &Client, names: &[String], values: &[i64]) {
    dst.query_one(
        "SELECT count(setval(n::regclass, v, false)) FROM unnest($1::text[], $2::int8[]) AS u(n, v)",
        &[&names, &values],
    )
    .await
    .unwrap();
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} unset: run scripts/bench"));
    let bench = Bench {
        source_url: env("SEQSYNC_BENCH_SOURCE"),
        destination_url: env("SEQSYNC_BENCH_DESTINATION"),
        count: std::env::var("SEQSYNC_BENCH_SEQUENCES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        offset: 10_000,
    };
    let rounds: usize = std::env::var("SEQSYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let work = std::env::temp_dir().join(format!("seqsync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let script = work.join("setval.sql");
    let journal = work.join("journal.jsonl");

    eprintln!("setting up {} sequences on each side…", bench.count);
    bench.setup().await;
    bench.psql_script(&script);

    let version: i32 = connect(&bench.destination())
        .await
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
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
        "psql script: one setval per sequence, one transaction",
        "seqsync sync, destination never used (after a migration)",
        "seqsync sync, destination already called (a rerun)",
        "seqsync plan (reads both sides, changes nothing)",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![vec![]; names.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        bench.reset(DestinationState::NeverUsed).await;
        samples[0].push(bench.floor().await);
        bench.reset(DestinationState::NeverUsed).await;
        samples[1].push(bench.job_floor(&job_src, &job_dst, exact).await);
        bench.reset(DestinationState::NeverUsed).await;
        samples[2].push(bench.psql(&script));
        bench.reset(DestinationState::NeverUsed).await;
        samples[3].push(bench.seqsync("sync", &journal));
        bench.verify().await;
        bench.reset(DestinationState::Called).await;
        samples[4].push(bench.seqsync("sync", &journal));
        bench.verify().await;
        bench.reset(DestinationState::NeverUsed).await;
        samples[5].push(bench.seqsync("plan", &journal));
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    println!(
        "seqsync benchmark: PostgreSQL {}, {} sequences per side, loopback, durable settings, {rounds} rounds, median (min)",
        version / 10_000,
        bench.count
    );
    for (i, name) in names.iter().enumerate() {
        let min = *samples[i].iter().min().unwrap();
        println!(
            "  {name:<62} {:>8} ({:>7})  {:>5.2}× floor  {:>5.2}× job floor",
            ms(medians[i]),
            ms(min),
            medians[i].as_secs_f64() / medians[0].as_secs_f64(),
            medians[i].as_secs_f64() / medians[1].as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
