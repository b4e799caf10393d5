//! The journal over a long `watch`: applying rounds journaled exactly as `seqsync watch`
//! journals them (the rows that change, through `Journal::record`: plan, intent, each batch's
//! locked states, the outcome), with rotation, beside the same rounds written in the previous
//! format (every row in every entry but the batch's) in the same run. What a start pays for
//! the journal is measured on `seqsync recover` (it reads what `plan`, `sync` and the TUI read
//! at start: the unfinished runs), a new process each time, at the start and at the end, and
//! beside an empty journal. No database. Run with `cargo bench --bench journal_soak`.
//! SEQSYNC_SOAK_ROUNDS (default 600), SEQSYNC_SOAK_MOVING (default 580 of 10,000 sequences).

use seqsync::engine::journal::{Journal, JournalEvent, RunContext};
use seqsync::engine::model::{Locked, PlanRow, RawState, RowStatus};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SEQUENCES: usize = 10_000;
/// Small, so that the soak rolls over several times in a few minutes.
const ROTATE_AT: u64 = 4 << 20;
const KEEP: usize = 64;

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A run's context as a watch journals it; the URLs are text in the journal, never connected to.
fn context(run_id: String) -> RunContext {
    RunContext {
        run_id,
        instance: "orders-migration".into(),
        source: "postgresql://app:****@127.0.0.1:5432/orders".into(),
        destination: "postgresql://app:****@127.0.0.1:5433/orders".into(),
        offset: 1_000,
        allow_lower: false,
        undo_of: None,
        margin: None,
        backend: None,
        selection: Default::default(),
    }
}

/// The rows a round changes: `moving` of the sequences, spread by the round number.
fn round_rows(round: usize, moving: usize) -> Vec<PlanRow> {
    (0..moving)
        .map(|k| {
            let i = (round * 7919 + k * (SEQUENCES / moving)) % SEQUENCES;
            let value = (round * 100 + i) as i64;
            PlanRow {
                schema: "public".into(),
                name: format!("orders_{i}_id_seq").into(),
                source_value: Some(value),
                destination_before: Some(value - 50),
                target: Some(value + 1_000),
                destination_after: None,
                status: RowStatus::Update,
                message: String::new(),
                destination_oid: Some(16_384 + i as u32),
                source_name: None,
                matched: Default::default(),
                source_key: None,
            }
        })
        .collect()
}

fn applied(rows: &[PlanRow]) -> Vec<PlanRow> {
    rows.iter()
        .map(|r| PlanRow {
            status: RowStatus::Updated,
            destination_after: r.target,
            ..r.clone()
        })
        .collect()
}

fn locked(rows: &[PlanRow]) -> Vec<Locked> {
    rows.iter()
        .map(|r| Locked {
            schema: r.schema.to_string(),
            name: r.name.to_string(),
            state: RawState {
                last_value: r.destination_before.unwrap() - 1,
                is_called: true,
            },
            by_nextval: false,
        })
        .collect()
}

/// One applying round in the current format, as `seqsync watch` writes it.
fn round(journal: &Journal, run_id: String, rows: &[PlanRow]) {
    let run = context(run_id);
    journal
        .record(&run, JournalEvent::Plan, rows, "watch round", &[])
        .unwrap();
    journal
        .record(&run, JournalEvent::ApplyStarted, rows, "", &[])
        .unwrap();
    journal
        .record(&run, JournalEvent::BatchLocked, &[], "", &locked(rows))
        .unwrap();
    journal
        .record(&run, JournalEvent::Applied, &applied(rows), "", &[])
        .unwrap();
}

/// The same round in the previous format: each entry serialized whole, every row in all but
/// the batch's record.
fn round_previous_format(path: &Path, run_id: String, rows: &[PlanRow]) -> usize {
    let run = context(run_id);
    let done = applied(rows);
    let mut batch = run.entry(JournalEvent::BatchLocked, &[], "");
    batch.locked = locked(rows);
    let entries = [
        run.entry(JournalEvent::Plan, rows, "watch round"),
        run.entry(JournalEvent::ApplyStarted, rows, ""),
        batch,
        run.entry(JournalEvent::Applied, &done, ""),
    ];
    let mut bytes = vec![];
    for e in &entries {
        serde_json::to_writer(&mut bytes, e).unwrap();
        bytes.push(b'\n');
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    bytes.len()
}

/// `seqsync recover` on this journal, a new process: (wall time, peak memory in KiB), best
/// and median of 5.
fn start_cost(journal: &Path) -> (Duration, u64) {
    let mut times = vec![];
    let mut peak = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_seqsync"))
            .arg("--journal")
            .arg(journal)
            .arg("recover")
            .env("HOME", journal.parent().unwrap())
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .expect("/usr/bin/time (Debian package time)");
        times.push(started.elapsed());
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kib: u64 = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap();
        peak = peak.max(kib);
    }
    times.sort();
    (times[times.len() / 2], peak)
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn main() {
    let rounds = env_or("SEQSYNC_SOAK_ROUNDS", 600);
    let moving = env_or("SEQSYNC_SOAK_MOVING", 580);
    let dir = std::env::temp_dir().join(format!("seqsync-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.jsonl");
    let previous = dir.join("previous.jsonl");
    let empty = dir.join("empty.jsonl");
    let journal = Journal::new(path.clone()).with_rotation(ROTATE_AT, KEEP);

    let (empty_time, empty_peak) = start_cost(&empty);
    let first_run = "20261129T000000000Z-1".to_string();
    round(&journal, first_run.clone(), &round_rows(0, moving));
    round_previous_format(&previous, first_run.clone(), &round_rows(0, moving));
    let first_bytes = size(&path);
    let (start_time, start_peak) = start_cost(&path);
    let (previous_start_time, previous_start_peak) = start_cost(&previous);
    let started = Instant::now();
    let mut previous_bytes = 0;
    for n in 1..rounds {
        let rows = round_rows(n, moving);
        round(&journal, format!("20261129T{n:09}Z-1"), &rows);
        previous_bytes += round_previous_format(&previous, format!("20261129T{n:09}Z-1"), &rows);
    }
    let writing = started.elapsed();
    let archives = journal.archives().unwrap();
    let total: u64 = size(&path) + archives.iter().map(|a| size(a)).sum::<u64>();
    let per_round = total as f64 / rounds as f64;
    let previous_per_round = (previous_bytes as f64 + first_bytes as f64) / rounds as f64;
    let (end_time, end_peak) = start_cost(&path);
    let (previous_end_time, previous_end_peak) = start_cost(&previous);
    let undo_found = journal
        .run(&first_run)
        .unwrap()
        .and_then(|e| e.into_iter().last())
        .map(|e| e.rows.len());

    println!(
        "journal soak: {rounds} applying rounds, {moving} of {SEQUENCES} sequences moving each, rolls over at {} MiB",
        ROTATE_AT >> 20
    );
    println!(
        "  bytes per applying round        {:>9.0}    previous format {:>9.0}   ({:.2}×)",
        per_round,
        previous_per_round,
        per_round / previous_per_round
    );
    println!(
        "  growth per hour at 30 s rounds  {:>6.1} MiB    previous format {:>6.1} MiB",
        per_round * 120.0 / 1048576.0,
        previous_per_round * 120.0 / 1048576.0
    );
    println!(
        "  after {rounds} rounds: active file {:.1} MiB, {} archives, {:.1} MiB in all; previous format one file of {:.1} MiB",
        size(&path) as f64 / 1048576.0,
        archives.len(),
        total as f64 / 1048576.0,
        size(&previous) as f64 / 1048576.0
    );
    println!("  a start's journal read (seqsync recover, new process, median of 5, peak memory):");
    for (label, time, peak) in [
        ("empty journal", empty_time, empty_peak),
        ("after the first round", start_time, start_peak),
        ("at the end", end_time, end_peak),
        (
            "previous format, after the first round",
            previous_start_time,
            previous_start_peak,
        ),
        (
            "previous format, at the end",
            previous_end_time,
            previous_end_peak,
        ),
    ] {
        println!(
            "    {label:<40} {:>7.1} ms  {:>7.1} MiB",
            time.as_secs_f64() * 1000.0,
            peak as f64 / 1024.0
        );
    }
    println!(
        "  the first round's run, from before the first rollover: {}",
        match undo_found {
            Some(rows) => format!("found in an archive with its {rows} rows (what undo reads)"),
            None => "NOT FOUND".to_string(),
        }
    );
    println!(
        "  writing took {:.1} s ({:.1} ms a round, four fsyncs each)",
        writing.as_secs_f64(),
        writing.as_secs_f64() * 1000.0 / rounds as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
