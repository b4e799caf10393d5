//! `seqsync journal`: where the journal is, its size and its newest runs, read by the operator
//! without reading JSON by hand; its rotation killed midway, its compaction, and a damaged
//! journal.

mod common;
use common::Pair;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_journal_command_shows_the_file_its_runs_and_an_unfinished_one() {
    let pair = Pair::new("journal_cmd").await;
    let out = pair.run(&["journal"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("none yet"), "{text}");

    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a', 50), setval('b', 70)")
        .await
        .unwrap();
    let mut runs = vec![];
    for offset in ["10", "20", "30"] {
        let mut args = pair.ad_hoc("sync", offset);
        args.push("--yes");
        let (code, json, stderr) = pair.run_json(&args);
        assert_eq!(code, 0, "{stderr}");
        runs.push(json["run_id"].as_str().unwrap().to_string());
    }
    let (code, json, stderr) = pair.run_json(&["journal", "--runs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["runs"], 3, "{json}");
    assert!(json["bytes"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["path"], pair.journal().display().to_string());
    let recent: Vec<&str> = json["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        recent,
        vec![runs[2].as_str(), runs[1].as_str()],
        "newest first, two of them"
    );

    // A run killed after its intent: listed as unfinished until something settles it.
    let started = std::fs::read_to_string(pair.journal())
        .unwrap()
        .lines()
        .find(|l| l.contains("\"apply-started\""))
        .unwrap()
        .replace(&runs[0], "20261128T000000000Z-1");
    let mut text = std::fs::read_to_string(pair.journal()).unwrap();
    text.push_str(&started);
    text.push('\n');
    std::fs::write(pair.journal(), text).unwrap();
    let out = pair.run(&["journal"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("1 unfinished") && table.contains("20261128T000000000Z-1"),
        "{table}"
    );
    assert!(
        table.contains(&runs[2]) && table.contains("applied"),
        "{table}"
    );
}

/// `seqsync journal rotate` killed with SIGKILL at random moments while a killed run waits to
/// be settled: after each kill every run is still found, the interrupted run is pending exactly
/// once, and the next start settles it once.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_killed_at_any_moment_loses_nothing_and_settles_nothing_twice() {
    use seqsync::engine::journal::{Journal, JournalEvent, RunContext};
    use seqsync::engine::model::{PlanRow, RowStatus};
    let pair = Pair::new("journal_rotate_kill").await;
    pair.destination()
        .await
        .batch_execute("CREATE SEQUENCE a; CREATE SEQUENCE b; SELECT setval('a', 1000, true);")
        .await
        .unwrap();
    let killed = common::journal_killed_run(&pair, "ad-hoc", &["a", "b"], "a");
    // Enough finished runs that a rotation takes a while to read and copy.
    let journal = Journal::new(pair.journal());
    let rows: Vec<PlanRow> = (0..2_000)
        .map(|i| PlanRow {
            schema: "public".into(),
            name: format!("filler_{i}").into(),
            source_value: Some(i),
            destination_before: Some(i),
            target: Some(i + 10),
            destination_after: None,
            status: RowStatus::Update,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        })
        .collect();
    let mut finished = vec![];
    for n in 0..60 {
        let run = RunContext {
            run_id: format!("20261129T0100{n:05}Z-2"),
            instance: "filler".into(),
            source: "s".into(),
            destination: "d".into(),
            offset: 10,
            allow_lower: false,
            undo_of: None,
            margin: None,
            backend: None,
            selection: Default::default(),
        };
        journal
            .record(&run, JournalEvent::Plan, &rows, "", &[])
            .unwrap();
        journal
            .record(&run, JournalEvent::Applied, &rows, "", &[])
            .unwrap();
        finished.push(run.run_id);
    }
    let mut seed = 0x2545_f491_u64;
    for trial in 0..4 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_micros((seed >> 33) % 40_000);
        let mut child = pair.command(&["journal", "rotate"]).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let pending = journal.read_unfinished().unwrap();
        let starts = pending
            .iter()
            .filter(|e| e.run_id == killed && e.event == JournalEvent::ApplyStarted)
            .count();
        assert_eq!(starts, 1, "trial {trial} after {delay:?}: {pending:?}");
        assert_eq!(pending.iter().filter(|e| e.run_id != killed).count(), 0);
        for run in &finished {
            let entries = journal.run(run).unwrap().unwrap_or_default();
            assert_eq!(
                entries.last().map(|e| (e.event, e.rows.len())),
                Some((JournalEvent::Applied, rows.len())),
                "trial {trial} after {delay:?}: {run}"
            );
        }
    }
    let out = pair.run(&["recover", "--destination", &pair.destination_url]);
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(journal.read_unfinished().unwrap().is_empty(), "{said}");
    let out = pair.run(&["journal", "rotate"]);
    assert!(out.status.success());
    let recovered = journal
        .read_all()
        .unwrap()
        .into_iter()
        .filter(|e| e.run_id == killed && e.event == JournalEvent::Recovered)
        .count();
    assert_eq!(recovered, 1, "settled once: {said}");
    let history = journal.runs(1000, &|_| true).unwrap();
    assert_eq!(
        history.iter().filter(|e| e.run_id == killed).count(),
        1,
        "listed once"
    );
}

/// `seqsync journal compact` rewrites a previous-format journal with every run kept, and a
/// damaged journal (garbage, a torn line, a missing archive) is reported, never in the way.
#[tokio::test(flavor = "multi_thread")]
async fn compact_keeps_every_run_and_a_damaged_journal_blocks_nothing() {
    let pair = Pair::new("journal_compact").await;
    pair.both("CREATE SEQUENCE a;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a', 50)")
        .await
        .unwrap();
    let fixture = include_str!("fixtures/journal-v1.jsonl");
    std::fs::write(
        pair.journal(),
        format!("garbage that is not JSON\n{fixture}"),
    )
    .unwrap();
    let (code, before, stderr) = pair.run_json(&["journal", "--runs", "100"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(before["unreadable"], 2, "{before}");
    let (code, done, stderr) = pair.run_json(&["journal", "compact"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        done["bytes_after"].as_u64() < done["bytes_before"].as_u64(),
        "{done}"
    );
    assert_eq!(
        (done["entries"].as_u64(), done["dropped"].as_u64()),
        (Some(12), Some(2))
    );
    let (_, after, _) = pair.run_json(&["journal", "--runs", "100"]);
    assert_eq!(
        after["recent"], before["recent"],
        "the same runs, the same words"
    );
    assert_eq!(after["unfinished"], before["unfinished"]);
    // An archive that went missing and a torn tail: a sync that needs neither goes on.
    std::fs::write(
        pair.dir.join("journal.20261101T000000000Z.jsonl"),
        "{\"v\":2,\"run_id\":\"torn",
    )
    .unwrap();
    let mut text = std::fs::read_to_string(pair.journal()).unwrap();
    text.push_str("{\"v\":2,\"run_id\":\"20261129T");
    std::fs::write(pair.journal(), text).unwrap();
    let mut args = pair.ad_hoc("sync", "10");
    args.push("--yes");
    let (code, json, stderr) = pair.run_json(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["summary"]["updated"], 1, "{json}");
    let out = pair.run(&[
        "undo",
        "20261101T000000000Z-1",
        "--destination",
        &pair.destination_url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no run 20261101T000000000Z-1"), "{stderr}");
}
