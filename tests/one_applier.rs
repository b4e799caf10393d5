//! Two operators answering the same page: one applier per destination database. A run holds
//! the destination's applier lock from before its intent is journaled until it has ended; a
//! second run (CLI or TUI) waits `lock_timeout` and is refused naming the first, and recovery
//! never restores under a live run. Every seqsync session names itself (and its run) in
//! `pg_stat_activity`.

mod common;

use common::Pair;
use seqsync::app::msg::{Effect, Response};
use seqsync::config;
use seqsync::engine::journal::Journal;
use seqsync::engine::offset::Offset;
use seqsync::engine::run::Context;
use seqsync::engine::Timeouts;
use seqsync::worker::{self, WorkerConfig};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENCES: usize = 3_000;

/// The session holding seqsync's applier lock on `db`: (pid, application_name).
async fn lock_holder(observer: &tokio_postgres::Client, db: &str) -> Option<(i32, String)> {
    observer
        .query_opt(
            "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND a.datname = $1",
            &[&db],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

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
