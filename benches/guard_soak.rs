//! The guard over minutes: `seqsync watch --all` guarding several instances at a short
//! interval while their sources move, its memory, open file descriptors and round times in
//! the first minute beside the last, in one run. All must stay flat. Run with `scripts/bench`
//! (SEQSYNC_BENCH_SOAK_SECS, default 180; SEQSYNC_BENCH_SOAK_INSTANCES, default 3).

mod common;

use common::{connect, env, env_or, median, ms};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENCES: i64 = 500;

fn url_of(admin: &str, db: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => admin.to_string(),
    }
}

/// VmRSS in KiB and the number of open file descriptors of `pid`.
fn sample(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

#[tokio::main]
async fn main() {
    let (source, destination) = (
        env("SEQSYNC_BENCH_SOURCE"),
        env("SEQSYNC_BENCH_DESTINATION"),
    );
    let seconds: u64 = env_or("SEQSYNC_BENCH_SOAK_SECS", 180);
    let instances: usize = env_or("SEQSYNC_BENCH_SOAK_INSTANCES", 3);
    let dir = std::env::temp_dir().join(format!("seqsync-bench-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = String::from("[defaults]\noffset = 1000\n");
    for i in 0..instances {
        let db = format!("seqsync_soak_{i}");
        for admin in [&source, &destination] {
            let c = connect(admin).await;
            // One statement per call: DROP and CREATE DATABASE refuse a transaction block.
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {db}"))
                .await
                .unwrap();
            connect(&url_of(admin, &db))
                .await
                .batch_execute(&format!(
                    "DO $$ BEGIN FOR i IN 1..{SEQUENCES} LOOP EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$"
                ))
                .await
                .unwrap();
        }
        config += &format!(
            "[[instances]]\nid = \"soak{i}\"\nkind = \"migration\"\nstatus = \"running\"\nphase = \"incremental\"\n\
             source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
             destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
            url_of(&source, &db),
            url_of(&destination, &db)
        );
    }
    let config_path = dir.join("guard.toml");
    std::fs::write(&config_path, config).unwrap();
    // Writers: a tenth of each instance's source sequences move every 100 ms.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = vec![];
    for i in 0..instances {
        let client = connect(&url_of(&source, &format!("seqsync_soak_{i}"))).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut turn = 0i64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let first = (turn * 50) % SEQUENCES + 1;
                client
                    .batch_execute(&format!(
                        "SELECT count(nextval(format('s%s', i)::regclass)) FROM generate_series({first}, {}) i",
                        first + 49
                    ))
                    .await
                    .unwrap();
                turn += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .args(["--config", config_path.to_str().unwrap(), "watch", "--all"])
        .args(["--interval", "200ms", "--log-format", "json"])
        .env("SEQSYNC_JOURNAL", dir.join("journal.jsonl"))
        .env("SEQSYNC_LOG", dir.join("seqsync.log"))
        .env("HOME", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (sender, rounds) = std::sync::mpsc::channel::<(Instant, f64)>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "round" {
                let _ = sender.send((Instant::now(), v["took_ms"].as_f64().unwrap()));
            }
        }
    });
    let started = Instant::now();
    let minute = Duration::from_secs(60.min(seconds / 3));
    let mut samples = vec![];
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(s) = sample(pid) {
            samples.push((started.elapsed(), s));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
    let all: Vec<(Instant, f64)> = rounds.try_iter().collect();
    let end = Duration::from_secs(seconds);
    let window = |from: Duration, to: Duration| {
        let memory: Vec<&(u64, usize)> = samples
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, s)| s)
            .collect();
        let peak = memory.iter().map(|s| s.0).max().unwrap_or(0);
        let fds = memory.iter().map(|s| s.1).max().unwrap_or(0);
        let mut took: Vec<Duration> = all
            .iter()
            .filter(|(at, _)| {
                let since = at.duration_since(started);
                since >= from && since < to
            })
            .map(|(_, ms)| Duration::from_secs_f64(ms / 1000.0))
            .collect();
        let n = took.len();
        (
            peak,
            fds,
            if n > 0 {
                median(&mut took)
            } else {
                Duration::ZERO
            },
            n,
        )
    };
    let (first_rss, first_fds, first_round, first_n) = window(Duration::ZERO, minute);
    let (last_rss, last_fds, last_round, last_n) = window(end - minute, end);
    println!(
        "guard soak: {instances} instances × {SEQUENCES} sequences, 200 ms interval, sources moving, {seconds} s, {} rounds",
        all.len()
    );
    println!(
        "  {:<28} {:>10} {:>10}",
        "",
        format!("first {}s", minute.as_secs()),
        format!("last {}s", minute.as_secs())
    );
    println!(
        "  {:<28} {:>7} KiB {:>7} KiB",
        "peak RSS", first_rss, last_rss
    );
    println!(
        "  {:<28} {:>10} {:>10}",
        "open file descriptors (max)", first_fds, last_fds
    );
    println!("  {:<28} {:>10} {:>10}", "rounds", first_n, last_n);
    println!(
        "  {:<28} {:>10} {:>10}",
        "round time (median)",
        ms(first_round),
        ms(last_round)
    );
    let journal = std::fs::metadata(dir.join("journal.jsonl")).map_or(0, |m| m.len());
    println!("  journal after the soak: {} KiB", journal / 1024);
    let _ = std::fs::remove_dir_all(&dir);
}
