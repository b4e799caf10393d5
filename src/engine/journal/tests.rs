use super::format::head;
use super::*;
use crate::engine::model::{Locked, PlanRow, RawState, RowStatus};
use std::io::Write;
use std::path::PathBuf;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "seqsync-journal-{name}-{}-{}",
            std::process::id(),
            new_run_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn journal(&self) -> Journal {
        Journal::new(self.0.join("journal.jsonl"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn context(run_id: &str, instance: &str) -> RunContext {
    RunContext {
        run_id: run_id.into(),
        instance: instance.into(),
        source: "postgresql://u:****@h/db".into(),
        destination: "postgresql://u@h2/db".into(),
        offset: 10,
        allow_lower: false,
        undo_of: None,
        margin: None,
        backend: None,
        selection: Default::default(),
    }
}

fn row(i: usize, status: RowStatus) -> PlanRow {
    PlanRow {
        schema: "public".into(),
        name: format!("s\"{i}é").into(),
        source_value: Some(i as i64 * 3),
        destination_before: Some(i as i64),
        target: Some(i as i64 * 3 + 10),
        destination_after: None,
        status,
        message: String::new(),
        destination_oid: None,
        source_name: None,
        matched: Default::default(),
        source_key: None,
    }
}

fn plan(n: usize) -> Vec<PlanRow> {
    (0..n)
        .map(|i| {
            row(
                i,
                if i % 7 == 0 {
                    RowStatus::Ahead
                } else {
                    RowStatus::Update
                },
            )
        })
        .collect()
}

/// What an apply leaves: every row read back, `update` rows set; `odd` rows went otherwise.
fn applied(rows: &[PlanRow], odd: &[usize]) -> Vec<PlanRow> {
    let mut done = rows.to_vec();
    for (i, r) in done.iter_mut().enumerate() {
        r.destination_after = if r.status == RowStatus::Update {
            r.target
        } else {
            r.destination_before
        };
        if r.status == RowStatus::Update {
            r.status = RowStatus::Updated;
        }
        if odd.contains(&i) {
            r.destination_after = Some(-1);
            r.message = "applied, but reading back failed: gone".into();
        }
    }
    done
}

fn lines(journal: &Journal) -> Vec<String> {
    std::fs::read_to_string(journal.path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_run_writes_its_rows_once_and_every_entry_reads_back_whole() {
    let scratch = Scratch::new("compact");
    let journal = scratch.journal();
    let run = context("20261129T010000000Z-1", "a\"b");
    let rows = plan(300);
    journal
        .record(&run, JournalEvent::Plan, &rows, "", &[])
        .unwrap();
    journal
        .record(&run, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    // Every third read by the run's own nextval(): the flag survives the round trip.
    let locked: Vec<Locked> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Locked {
            schema: r.schema.to_string(),
            name: r.name.to_string(),
            state: RawState {
                last_value: r.destination_before.unwrap(),
                is_called: i % 3 != 0,
            },
            by_nextval: i % 3 == 0,
        })
        .collect();
    journal
        .record(&run, JournalEvent::BatchLocked, &[], "", &locked)
        .unwrap();
    let done = applied(&rows, &[5, 250]);
    journal
        .record(&run, JournalEvent::Applied, &done, "", &[])
        .unwrap();

    let written = lines(&journal);
    assert_eq!(written.len(), 4);
    assert!(written.iter().all(|l| l.starts_with("{\"v\":2,")));
    let sizes: Vec<usize> = written.iter().map(String::len).collect();
    assert!(
        sizes[1] < 1_000 && sizes[3] < 1_500 && sizes[0] > 30_000,
        "only the plan holds every row: {sizes:?}"
    );
    let last: serde_json::Value = serde_json::from_str(&written[3]).unwrap();
    let changed: Vec<u64> = last["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["row"].as_u64().unwrap())
        .collect();
    assert_eq!(changed, vec![5, 250], "only the rows that went otherwise");

    let entries = journal.run(&run.run_id).unwrap().expect("the run");
    let events: Vec<_> = entries.iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        [
            JournalEvent::Plan,
            JournalEvent::ApplyStarted,
            JournalEvent::BatchLocked,
            JournalEvent::Applied
        ]
    );
    assert_eq!(entries[0].rows, rows);
    assert_eq!(entries[1].rows, rows);
    assert_eq!(entries[2].locked, locked);
    assert_eq!(entries[3].rows, done, "every row rebuilt as applied");
    assert_eq!(entries[3].instance, "a\"b");
    assert!(entries[3].undoable());
    assert_eq!(entries[3].summary.get("updated"), Some(&257));
}

#[test]
fn rows_chosen_again_after_the_plan_are_journaled_as_changes() {
    let scratch = Scratch::new("chosen");
    let journal = scratch.journal();
    let run = context("20261129T010000000Z-2", "x");
    let rows = plan(50);
    journal
        .record(&run, JournalEvent::Plan, &rows, "", &[])
        .unwrap();
    let mut chosen = rows.clone();
    chosen[3].status = RowStatus::Excluded;
    chosen[3].message = "left out by hand in the preview".into();
    journal
        .record(&run, JournalEvent::ApplyStarted, &chosen, "", &[])
        .unwrap();
    // A process that lost its base (another run in between, or a restart) writes whole rows.
    let fewer = &chosen[..10];
    journal
        .record(&run, JournalEvent::RolledBack, fewer, "boom", &[])
        .unwrap();
    let entries = journal.run(&run.run_id).unwrap().unwrap();
    assert_eq!(entries[1].rows, chosen);
    assert_eq!(entries[2].rows, fewer);
    assert_eq!(entries[2].message, "boom");
}

#[test]
fn a_torn_line_is_skipped_and_an_entry_after_it_survives() {
    let scratch = Scratch::new("torn");
    let journal = scratch.journal();
    let run = context(&new_run_id(), "ad-hoc");
    let rows = plan(3);
    journal
        .record(&run, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(journal.path())
        .unwrap()
        .write_all(b"{\"v\":2,\"run_id\": \"torn")
        .unwrap();
    journal
        .record(&run, JournalEvent::Applied, &applied(&rows, &[]), "", &[])
        .unwrap();
    assert!(journal.read_unfinished().unwrap().is_empty());
    let stats = journal.stats().unwrap();
    assert_eq!((stats.entries, stats.unreadable), (2, 1));
    assert_eq!(
        journal.run(&run.run_id).unwrap().unwrap()[1].rows,
        applied(&rows, &[])
    );
}

/// A journal written by the previous format (every row in every entry, no `v`), with an
/// interrupted run and a torn last line: read as it was written.
#[test]
fn a_journal_of_the_previous_format_reads_as_it_was_written() {
    let scratch = Scratch::new("v1");
    let journal = scratch.journal();
    let text = include_str!("../../../tests/fixtures/journal-v1.jsonl");
    std::fs::write(journal.path(), text).unwrap();
    let written: Vec<JournalEntry> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(written.len(), 12);

    let interrupted = "20261129T015300000Z-3999999";
    let pending = journal.read_unfinished().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|e| e.run_id == interrupted));
    assert_eq!(pending[0].rows, written[10].rows);
    assert_eq!(pending[1].locked, written[11].locked);
    assert_eq!(pending[1].locked.len(), 3);

    let first = journal.run("20261129T015258177Z-31270").unwrap().unwrap();
    assert_eq!(first.len(), 4);
    for (read, was) in first.iter().zip(&written[..4]) {
        assert_eq!(read.event, was.event);
        assert_eq!(read.locked, was.locked);
        if read.event != JournalEvent::BatchLocked {
            assert_eq!(read.rows, was.rows);
        }
    }
    let runs: Vec<(String, JournalEvent)> = journal
        .runs(10, &|_| true)
        .unwrap()
        .into_iter()
        .map(|e| (e.run_id, e.event))
        .collect();
    assert_eq!(
        runs,
        [
            (interrupted.to_string(), JournalEvent::Plan),
            ("20261129T015258283Z-31280".into(), JournalEvent::Applied),
            ("20261129T015258231Z-31275".into(), JournalEvent::Plan),
            ("20261129T015258177Z-31270".into(), JournalEvent::Applied),
        ]
    );
    assert_eq!(journal.stats().unwrap().unreadable, 1);

    // Compacted: the same runs, rows written once each.
    let before = journal.run("20261129T015258283Z-31280").unwrap().unwrap();
    let done = journal.compact().unwrap();
    assert!(done.bytes_after < done.bytes_before, "{done:?}");
    assert_eq!((done.entries, done.dropped), (12, 1));
    assert_eq!(
        journal.run("20261129T015258283Z-31280").unwrap().unwrap(),
        before
    );
    assert_eq!(journal.read_unfinished().unwrap(), pending);
}

#[test]
fn heads_are_read_without_parsing_the_rows_and_hostile_text_survives() {
    let scratch = Scratch::new("head");
    let journal = scratch.journal();
    let hostile = "in\"st\\ance\n\u{202e}名";
    let run = context("20261129T010000000Z-3", hostile);
    journal
        .record(&run, JournalEvent::Plan, &plan(2), "", &[])
        .unwrap();
    let line = lines(&journal).remove(0);
    let parsed = head(line.as_bytes()).expect("our own line");
    assert_eq!(parsed.run_id, run.run_id);
    assert_eq!(parsed.event, "plan");
    assert_eq!(parsed.instance.as_deref(), Some(hostile));
    assert!(head(b"{\"run_id\":\"x\",\"event\":\"plan\",").is_some());
    assert!(head(b"garbage").is_none());
    let runs = journal.runs(5, &|e| e.instance == hostile).unwrap();
    assert_eq!(runs.len(), 1);
}

/// Runs a full cycle (plan, intent, applied) of `run_id`.
fn full_run(journal: &Journal, run_id: &str, rows: &[PlanRow]) {
    let run = context(run_id, "i");
    journal
        .record(&run, JournalEvent::Plan, rows, "", &[])
        .unwrap();
    journal
        .record(&run, JournalEvent::ApplyStarted, rows, "", &[])
        .unwrap();
    journal
        .record(&run, JournalEvent::Applied, &applied(rows, &[]), "", &[])
        .unwrap();
}

#[test]
fn rotation_carries_unfinished_runs_and_archived_runs_stay_readable() {
    let scratch = Scratch::new("rotate");
    let journal = scratch.journal().with_rotation(8 << 10, 3);
    let rows = plan(20);
    full_run(&journal, "20261129T010000000Z-10", &rows);
    // Killed while applying: intent written, never closed.
    let killed = context("20261129T010000001Z-3999999", "i");
    journal
        .record(&killed, JournalEvent::Plan, &rows, "", &[])
        .unwrap();
    journal
        .record(&killed, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    for n in 0..40 {
        full_run(&journal, &format!("20261129T0101{n:05}Z-11"), &rows);
    }
    let archives = journal.archives().unwrap();
    assert_eq!(archives.len(), 3, "retention keeps three: {archives:?}");
    let size = std::fs::metadata(journal.path()).unwrap().len();
    assert!(
        size < 16 << 10,
        "the active file stays near its limit: {size}"
    );
    #[cfg(unix)]
    for file in archives.iter().chain([&journal.path().to_path_buf()]) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let pending = journal.read_unfinished().unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the killed run is carried into each new file"
    );
    assert_eq!(pending[0].run_id, killed.run_id);
    assert_eq!(pending[0].rows, rows);
    // The oldest complete run went with a removed archive; a recent archived one is readable.
    assert!(journal.run("20261129T010000000Z-10").unwrap().is_none());
    let active = std::fs::read_to_string(journal.path()).unwrap();
    let archived = (0..40)
        .rev()
        .map(|n| format!("20261129T0101{n:05}Z-11"))
        .find(|r| !active.contains(r.as_str()))
        .expect("a run rolled over");
    let entries = journal.run(&archived).unwrap().expect("in an archive");
    assert_eq!(entries.last().unwrap().rows, applied(&rows, &[]));
    let listed = journal.runs(1000, &|_| true).unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|e| e.run_id.as_str()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "a carried run is listed once");
    assert!(listed.windows(2).all(|w| w[0].at >= w[1].at) || count > 0);
    // Settled, it is no longer carried; its archive copy does not make it unfinished again.
    journal
        .record(&killed, JournalEvent::Recovered, &rows, "settled", &[])
        .unwrap();
    journal.rotate().unwrap();
    assert!(journal.read_unfinished().unwrap().is_empty());
    assert_eq!(std::fs::metadata(journal.path()).unwrap().len(), 0);
}

#[test]
fn an_archive_with_a_run_left_unfinished_is_kept_past_the_retention() {
    let scratch = Scratch::new("stranded");
    let journal = scratch.journal().with_rotation(1 << 20, 1);
    let rows = plan(3);
    let killed = context("20261129T010000001Z-3999999", "i");
    journal
        .record(&killed, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    journal.rotate().unwrap();
    // As if the carried copy were lost (a journal restored from an old backup, say).
    std::fs::write(journal.path(), "").unwrap();
    journal.rotate().unwrap();
    let rotated = journal.rotate().unwrap();
    assert_eq!(rotated.kept.len(), 1, "{rotated:?}");
    assert!(rotated.describe(journal.path()).contains("unfinished"));
    let archives = journal.archives().unwrap();
    assert_eq!(
        archives.len(),
        2,
        "the newest, and the stranded one: {archives:?}"
    );
    let oldest = std::fs::read_to_string(&archives[1]).unwrap();
    assert!(oldest.contains(&killed.run_id));
}

#[test]
fn a_rotation_killed_midway_loses_nothing_and_duplicates_nothing() {
    let scratch = Scratch::new("killed-rotation");
    let journal = scratch.journal().with_rotation(1 << 20, 8);
    let rows = plan(5);
    full_run(&journal, "20261129T010000000Z-20", &rows);
    let killed = context("20261129T010000001Z-3999999", "i");
    journal
        .record(&killed, JournalEvent::Plan, &rows, "", &[])
        .unwrap();
    journal
        .record(&killed, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    // Killed after writing the next file, before linking: a stale next file is overwritten.
    std::fs::write(scratch.0.join("journal.jsonl.rotating"), "stale").unwrap();
    // Killed after linking the archive, before the rename: the active file is also an archive.
    let early = scratch.0.join("journal.20261129T000000000Z.jsonl");
    std::fs::hard_link(journal.path(), &early).unwrap();
    let runs = journal.runs(100, &|_| true).unwrap();
    assert_eq!(runs.len(), 2, "each run once");
    assert_eq!(journal.read_unfinished().unwrap().len(), 1);
    let rotated = journal.rotate().unwrap();
    assert_eq!(
        rotated.archive.as_deref(),
        Some(early.to_str().unwrap()),
        "the existing link is the archive"
    );
    assert_eq!(journal.archives().unwrap().len(), 1);
    assert_eq!(rotated.carried, vec![killed.run_id.clone()]);
    assert_eq!(journal.read_unfinished().unwrap()[0].rows, rows);
    assert_eq!(journal.runs(100, &|_| true).unwrap().len(), 2);
    assert!(!scratch.0.join("journal.jsonl.rotating").exists());
}

#[test]
fn writers_in_several_processes_lose_no_line_to_a_rotation() {
    let scratch = Scratch::new("writers");
    let rows = plan(30);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            // A journal of its own: as another process would have.
            let journal = scratch.journal().with_rotation(16 << 10, 1000);
            let rows = rows.clone();
            std::thread::spawn(move || {
                for n in 0..25 {
                    full_run(&journal, &format!("20261129T0102{n:05}Z-{t}"), &rows);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let journal = scratch.journal();
    assert!(
        journal.archives().unwrap().len() > 1,
        "rolled over while the others wrote"
    );
    for t in 0..4 {
        for n in 0..25 {
            let run = format!("20261129T0102{n:05}Z-{t}");
            // Another writer may roll the file over between a run's plan and its intent; the
            // intent then starts the run again in the new file, rows whole.
            let entries = journal.run(&run).unwrap().expect(&run);
            let events: Vec<_> = entries.iter().map(|e| e.event).collect();
            assert!(
                events.ends_with(&[JournalEvent::ApplyStarted, JournalEvent::Applied]),
                "{run}: {events:?}"
            );
            assert_eq!(entries[events.len() - 2].rows, rows, "{run}");
            assert_eq!(entries.last().unwrap().rows, applied(&rows, &[]), "{run}");
        }
    }
    assert!(journal.read_unfinished().unwrap().is_empty());
}

#[test]
fn undos_are_found_across_files() {
    let scratch = Scratch::new("undos");
    let journal = scratch.journal().with_rotation(1 << 20, 8);
    let rows = plan(4);
    full_run(&journal, "20261129T010000000Z-30", &rows);
    journal.rotate().unwrap();
    let mut undo = context("20261129T010000009Z-31", "i");
    undo.undo_of = Some("20261129T010000000Z-30".into());
    journal
        .record(&undo, JournalEvent::ApplyStarted, &rows, "", &[])
        .unwrap();
    assert!(journal
        .undos_of("20261129T010000000Z-30")
        .unwrap()
        .is_empty());
    journal
        .record(&undo, JournalEvent::Applied, &applied(&rows, &[]), "", &[])
        .unwrap();
    let found = journal.undos_of("20261129T010000000Z-30").unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].undoable());
    assert!(journal.run("20261129T010000000Z-30").unwrap().is_some());
}

#[test]
fn a_writer_stopped_mid_write_blocks_no_other_run() {
    use std::os::unix::io::AsRawFd;
    let scratch = Scratch::new("stopped");
    let journal = scratch.journal().with_rotation(1, 8);
    full_run(&journal, "20261129T010000000Z-40", &plan(3));
    // Another process holds its shared lock, as a seqsync stopped with SIGSTOP mid-write does.
    let held = std::fs::File::open(journal.path()).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_SH) }, 0);
    let started = std::time::Instant::now();
    full_run(&journal, "20261129T010000001Z-41", &plan(3));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        journal.archives().unwrap().is_empty(),
        "no rollover under another writer"
    );
    drop(held);
    full_run(&journal, "20261129T010000002Z-42", &plan(3));
    assert_eq!(
        journal.archives().unwrap().len(),
        1,
        "rolled over once free"
    );
    assert!(journal.run("20261129T010000001Z-41").unwrap().is_some());
}

#[test]
fn files_beside_the_journal_that_are_not_archives_are_left_alone() {
    let scratch = Scratch::new("strangers");
    let journal = scratch.journal().with_rotation(1 << 20, 1);
    for name in [
        "journal.aééééééééTZ.jsonl",
        "journal.notes.jsonl",
        "journal.jsonl.bak",
        "other.20261129T000000000Z.jsonl",
    ] {
        std::fs::write(scratch.0.join(name), "x").unwrap();
    }
    full_run(&journal, "20261129T010000000Z-50", &plan(2));
    assert!(journal.archives().unwrap().is_empty());
    journal.rotate().unwrap();
    journal.rotate().unwrap();
    assert_eq!(journal.archives().unwrap().len(), 1);
    for name in [
        "journal.aééééééééTZ.jsonl",
        "journal.notes.jsonl",
        "journal.jsonl.bak",
    ] {
        assert!(scratch.0.join(name).exists(), "{name} untouched");
    }
}
