//! Two operators answering the same page: one applier per destination database. A run holds
//! the destination's applier lock from before its intent is journaled until it has ended; a
//! second run (CLI or TUI) waits `lock_timeout` and is refused naming the first, and recovery
//! never restores under a live run. Every seqsync session names itself (and its run) in
//! `pg_stat_activity`.

mod common;

use common::{lock_holder, Pair};
use seqsync::app::msg::{Effect, Response};
use seqsync::config;
use seqsync::engine::journal::Journal;
use seqsync::engine::model::RowStatus;
use seqsync::engine::offset::Offset;
use seqsync::engine::run::Context;
use seqsync::engine::Timeouts;
use seqsync::worker::{self, WorkerConfig};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENCES: usize = 3_000;

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_is_refused_naming_the_first_and_recovery_never_restores_under_it() {
    let pair = Pair::new("one_applier").await;
    pair.both(&format!(
        "DO $$ BEGIN FOR i IN 1..{SEQUENCES} LOOP EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$;"
    ))
    .await;
    // Only on the destination: left alone by the runs, set by a killed run below.
    pair.destination()
        .await
        .batch_execute("CREATE SEQUENCE extra")
        .await
        .unwrap();
    pair.write_config(&format!(
        "[defaults]\nlock_timeout = \"1s\"\n[[instances]]\nid = \"page\"\nstatus = \"running\"\n\
         phase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.source_url, pair.destination_url
    ));
    let observer = pair.destination().await;

    // Operator A: small batches make the apply long enough to be caught holding the lock, and
    // a long lock_timeout lets it wait out everything below.
    let mut first = pair.command(&["sync", "--instance", "page", "--offset", "100", "--yes"]);
    first
        .env("SEQSYNC_APPLY_BATCH", "10")
        .env("SEQSYNC_DEFAULTS__LOCK_TIMEOUT", "60s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let first = first.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (holder_pid, holder_name) = loop {
        if let Some(holder) = lock_holder(&observer, &pair.name).await {
            signal(&first, "-STOP");
            break holder;
        }
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let first_run = holder_name
        .strip_prefix(concat!("seqsync/", env!("CARGO_PKG_VERSION"), " "))
        .unwrap_or_else(|| panic!("the applying session names its run: {holder_name}"))
        .to_string();

    // Operator B, on the command line: waits lock_timeout (1s), refused, naming A's run.
    let mut second = pair.command(&["sync", "--instance", "page", "--offset", "200", "--yes"]);
    second.stdout(Stdio::piped()).stderr(Stdio::piped());
    let second = second.spawn().unwrap();
    // While it waits, it too is named in pg_stat_activity, with its own run.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: Option<String> = observer
            .query_opt(
                "SELECT application_name FROM pg_stat_activity WHERE datname = $1 \
                 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                &[&pair.name],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        if let Some(name) = waiting {
            assert!(name.starts_with("seqsync/"), "{name}");
            assert!(!name.contains(&first_run), "its own run: {name}");
            break;
        }
        assert!(Instant::now() < deadline, "the second run never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another seqsync run is applying"),
        "{stderr}"
    );
    assert!(stderr.contains(&first_run), "names the first run: {stderr}");
    assert!(stderr.contains(&holder_pid.to_string()), "{stderr}");
    assert!(stderr.contains("nothing was applied"), "{stderr}");

    // Operator B, in the TUI: the same refusal, as a message.
    let settings = config::load(Some(&pair.dir.join("seqsync.toml"))).unwrap();
    let instance = settings.instance("page").unwrap().clone();
    let (requests, mut responses) = worker::spawn(WorkerConfig {
        context: Context {
            timeouts: Timeouts {
                lock: Duration::from_secs(1),
                ..Timeouts::default()
            },
            journal: Journal::new(pair.journal()),
            batch_size: 2_500,
        },
        observers: seqsync::engine::run::ObserveGate::new(1, 1),
        dts: None,
        overlays: vec![],
    });
    requests
        .send(Effect::Plan {
            request: 1,
            instance: Box::new(instance),
            offset: Offset::new(300).unwrap(),
        })
        .unwrap();
    match responses.recv().await.unwrap() {
        Response::Planned { result: Ok(_), .. } => {}
        other => panic!("{other:?}"),
    }
    requests
        .send(Effect::Apply {
            request: 1,
            selection: Default::default(),
        })
        .unwrap();
    let refused = loop {
        match responses.recv().await.unwrap() {
            Response::Progress { .. } => continue,
            Response::ApplyRefused { error, .. } => break error,
            other => panic!("{other:?}"),
        }
    };
    assert!(refused.contains(&first_run), "{refused}");

    // A run killed earlier on this destination, which set `extra`: recovery waits for the
    // live run's lock, and is refused rather than restoring under it.
    common::journal_killed_run(&pair, "page", &["extra", "s1"], "extra");
    observer
        .batch_execute("SELECT setval('extra', 1000, true)")
        .await
        .unwrap();
    let extra = || async {
        let r = observer
            .query_one("SELECT last_value, is_called FROM extra", &[])
            .await
            .unwrap();
        (r.get::<_, i64>(0), r.get::<_, bool>(1))
    };
    let out = pair.run(&["recover"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&first_run), "{stderr}");
    assert_eq!(
        extra().await,
        (1_000, true),
        "nothing restored under the live run"
    );

    // A finishes: its targets only, none of B's (exit 3: `extra` is missing in the source).
    signal(&first, "-CONT");
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<i64> = observer
        .query(
            "SELECT pg_sequence_last_value(c.oid) FROM pg_class c \
             WHERE c.relkind = 'S' AND c.relname ~ '^s[0-9]+$'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(values.len(), SEQUENCES);
    // Stored as called with the value before the target 101.
    assert!(values.iter().all(|v| *v == 100), "{values:?}");

    // Now recovery may settle the killed run, and puts `extra` back exactly.
    let out = pair.run(&["recover"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(extra().await, (1, false));
}

/// The worker's answer to `effect`, skipping progress reports.
async fn answer(
    requests: &tokio::sync::mpsc::UnboundedSender<Effect>,
    responses: &mut tokio::sync::mpsc::UnboundedReceiver<Response>,
    effect: Effect,
) -> Response {
    requests.send(effect).unwrap();
    loop {
        match responses.recv().await.unwrap() {
            Response::Progress { .. } => continue,
            other => return other,
        }
    }
}

/// Operator A previews in the TUI; operator B syncs the same instance with the same offset from
/// the command line; then A applies its preview. A's run finds B's targets under its lock: those
/// sequences are reported unchanged, not "updated", and are not A's to put back — undoing A's
/// run leaves them at B's targets, while the one A did set goes back.
#[tokio::test(flavor = "multi_thread")]
async fn a_preview_applied_after_another_run_set_the_same_targets_reports_them_unchanged() {
    let pair = Pair::new("one_applier_same").await;
    pair.both("CREATE SEQUENCE a1; CREATE SEQUENCE a2; CREATE SEQUENCE a3;")
        .await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a1', 10); SELECT setval('a2', 20); SELECT setval('a3', 30);")
        .await
        .unwrap();
    pair.write_config(&format!(
        "[[instances]]\nid = \"page\"\nstatus = \"running\"\nphase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.source_url, pair.destination_url
    ));
    let settings = config::load(Some(&pair.dir.join("seqsync.toml"))).unwrap();
    let instance = settings.instance("page").unwrap().clone();
    let (requests, mut responses) = worker::spawn(WorkerConfig {
        context: Context {
            timeouts: Timeouts::default(),
            journal: Journal::new(pair.journal()),
            batch_size: 2_500,
        },
        observers: seqsync::engine::run::ObserveGate::new(1, 1),
        dts: None,
        overlays: vec![],
    });
    match answer(
        &requests,
        &mut responses,
        Effect::Plan {
            request: 1,
            instance: Box::new(instance),
            offset: Offset::new(100).unwrap(),
        },
    )
    .await
    {
        Response::Planned { result: Ok(_), .. } => {}
        other => panic!("{other:?}"),
    }

    // B, meanwhile: the same targets; then a3 is put back where both plans found it.
    let out = pair.run(&["sync", "--instance", "page", "--offset", "100", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let destination = pair.destination().await;
    destination
        .batch_execute("SELECT setval('a3', 1, false)")
        .await
        .unwrap();

    let (run_id, outcome, rows) = match answer(
        &requests,
        &mut responses,
        Effect::Apply {
            request: 1,
            selection: Default::default(),
        },
    )
    .await
    {
        Response::Applied {
            run_id,
            outcome,
            rows,
            ..
        } => (run_id, outcome, rows),
        other => panic!("{other:?}"),
    };
    assert_eq!(outcome, "applied");
    let by_name = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    for (name, target) in [("a1", 110), ("a2", 120)] {
        let row = by_name(name);
        assert_eq!(row.status, RowStatus::Unchanged, "{row:?}");
        assert!(row.message.contains("already at its target"), "{row:?}");
        assert_eq!(
            (row.destination_before, row.destination_after),
            (Some(target), Some(target)),
            "{row:?}"
        );
    }
    let a3 = by_name("a3");
    assert_eq!(a3.status, RowStatus::Updated, "{a3:?}");
    assert_eq!(
        (a3.destination_before, a3.destination_after),
        (Some(1), Some(130))
    );

    // Undoing A's run puts back only what A set.
    let out = pair.run(&["undo", &run_id, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let next_values: Vec<(String, i64, bool)> = destination
        .query(
            "SELECT 'a1', last_value, is_called FROM a1 UNION ALL \
             SELECT 'a2', last_value, is_called FROM a2 UNION ALL \
             SELECT 'a3', last_value, is_called FROM a3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        next_values,
        vec![
            ("a1".to_string(), 109, true),
            ("a2".to_string(), 119, true),
            ("a3".to_string(), 1, false),
        ]
    );
}
