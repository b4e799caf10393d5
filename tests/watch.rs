//! Keep Sequences Ahead (`seqsync watch`) against real clusters: under load with real logical
//! replication (and the one-shot sync as the control), on a quiet database (rounds that write
//! nothing, seen in the sequences' own pages), following a subscription that is paused and then
//! dropped, and stopped or killed in the middle of a round.

mod common;
use common::cutover::{CutoverReport, Guard, OffsetChoice};
use common::watching::Watching;
use common::Pair;
use std::time::{Duration, Instant};

async fn cutover(name: &str, guard: Guard, after_sync: Duration) -> CutoverReport {
    let report = common::cutover_on_test_clusters(
        name,
        // 2.5 seconds of one table's writes: more than a round takes on a busy 2-core machine,
        // far less than what arrives before the switch.
        OffsetChoice::SecondsOfWrites(2.5),
        guard,
        Duration::from_millis(800),
        after_sync,
    )
    .run()
    .await;
    eprintln!(
        "{name}: offset {} rounds {} applying {} slowest round {} ms longest gap between rounds {} ms samples {} writes after {} duplicates {} not ahead {:?}",
        report.offset,
        report.rounds,
        report.applying_rounds,
        report.slowest_round_ms,
        report.longest_gap_ms,
        report.samples,
        report.writes_after_sync,
        report.duplicate_keys,
        report.not_ahead.iter().take(3).collect::<Vec<_>>()
    );
    eprintln!("{name}: seqsync's stderr: {}", report.sync_stderr);
    report
}

/// A switch moment between 7.5 and 9 s after the guard starts, different in every trial.
fn random_moment(trial: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let spread = (nanos ^ trial.wrapping_mul(2_654_435_761)) % 1_500;
    Duration::from_millis(7_500 + spread as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_keeps_every_key_ahead_where_one_sync_with_the_same_offset_does_not() {
    for trial in 0..3 {
        let report = cutover(
            "watch_load",
            Guard::Watch {
                interval: Duration::from_millis(100),
            },
            random_moment(trial),
        )
        .await;
        assert_eq!(
            report.sync_exit, 0,
            "Ctrl-C ends a watch with 0: {}",
            report.sync_stderr
        );
        assert!(
            report.sync_stderr.contains("watch stopped after"),
            "{}",
            report.sync_stderr
        );
        let per_table = report.writes_after_sync / common::cutover::TABLES.len() as u64;
        assert!(
            per_table > report.offset as u64,
            "trial {trial}: the writes after the start ({per_table} per table) outrun the offset {}",
            report.offset
        );
        assert!(
            report.rounds >= 5 && report.applying_rounds >= 3,
            "{report:?}"
        );
        assert!(report.samples >= 10);
        assert!(
            report.not_ahead.is_empty(),
            "trial {trial}: every sample has each destination sequence ahead: {:?} (slowest \
             round {} ms, longest gap between rounds {} ms)",
            report.not_ahead,
            report.slowest_round_ms,
            report.longest_gap_ms
        );
        assert_eq!(report.duplicate_keys, 0, "trial {trial}");
        assert!(report.other_errors.is_empty(), "{:?}", report.other_errors);
        assert_eq!(report.inserts_after_switch, 400);
    }
    // The control: the same offset, set once.
    let control = cutover("watch_control", Guard::Sync, Duration::from_millis(7_000)).await;
    assert_eq!(control.sync_exit, 0, "{}", control.sync_stderr);
    assert!(
        control.duplicate_keys > 0,
        "one sync with that offset is overrun by the writes after it: {control:?}"
    );
}

/// The journal's complete lines (a line being written while we poll is not one yet).
fn journal_lines(pair: &Pair) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(pair.journal()).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each destination sequence's page LSN: any `setval`, even to the value it already has,
/// writes the page and moves it.
async fn page_lsns(pair: &Pair) -> Vec<(String, String)> {
    let client = pair.destination().await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        .await
        .unwrap();
    client
        .query(
            "SELECT c.relname::text, (page_header(get_raw_page(c.oid::regclass::text, 0))).lsn::text \
             FROM pg_class c WHERE c.relkind = 'S' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_rounds_write_nothing_and_a_moved_sequence_is_the_only_one_written() {
    let pair = Pair::new("watch_quiet").await;
    pair.both(
        "CREATE TABLE t (id serial PRIMARY KEY); CREATE SEQUENCE down INCREMENT -1; \
         CREATE SEQUENCE idle; CREATE SEQUENCE \"we\"\"ird name\";",
    )
    .await;
    pair.source()
        .await
        .batch_execute("INSERT INTO t SELECT FROM generate_series(1, 40); SELECT nextval('down')")
        .await
        .unwrap();
    let mut args = pair.ad_hoc("", "1000");
    args.remove(0);
    args.extend(["--interval", "100ms"]);
    let watch = Watching::start(&pair, &args, &[]);
    let first = watch.next_round();
    assert_eq!(first["applied"], 4, "{first}");
    let journal_after_first = journal_lines(&pair).len();
    assert_eq!(
        journal_after_first, 4,
        "plan, apply-started, batch-locked, applied"
    );
    let lsns = page_lsns(&pair).await;
    for _ in 0..8 {
        let idle = watch.next_round();
        assert_eq!(
            (idle["changed"].as_u64(), idle["applied"].as_u64()),
            (Some(0), Some(0))
        );
        assert!(idle["run_id"].is_null());
    }
    assert_eq!(
        journal_lines(&pair).len(),
        journal_after_first,
        "idle rounds journal nothing"
    );
    assert_eq!(page_lsns(&pair).await, lsns, "idle rounds call no setval");

    pair.source()
        .await
        .batch_execute("INSERT INTO t SELECT FROM generate_series(1, 5)")
        .await
        .unwrap();
    let busy = loop {
        let round = watch.next_round();
        if round["applied"] != 0 {
            break round;
        }
    };
    assert_eq!(
        (busy["changed"].as_u64(), busy["applied"].as_u64()),
        (Some(1), Some(1))
    );
    let moved = &busy["sequences"][0];
    assert_eq!(
        (moved["name"].as_str(), moved["source_value"].as_i64()),
        (Some("t_id_seq"), Some(45))
    );
    assert_eq!(moved["destination_next"], 1045);
    let journal = journal_lines(&pair);
    assert_eq!(journal.len(), journal_after_first + 4);
    let applied = journal.last().unwrap();
    assert_eq!(applied["event"], "applied");
    assert!(applied.get("rows").is_none(), "written once, with the plan");
    let runs = seqsync::engine::journal::Journal::new(pair.journal())
        .read_all()
        .unwrap();
    let applied = runs.last().unwrap();
    assert_eq!(applied.run_id, journal.last().unwrap()["run_id"]);
    assert_eq!(applied.rows.len(), 1, "a round journals what it changed");
    assert_eq!(applied.rows[0].destination_after, Some(1045));
    let after = page_lsns(&pair).await;
    let changed: Vec<&String> = after
        .iter()
        .zip(&lsns)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| &a.0)
        .collect();
    assert_eq!(changed, ["t_id_seq"]);
    // An undo of that round puts back exactly what it set.
    let run_id = applied.run_id.clone();
    watch.signal(libc::SIGTERM);
    let (code, stderr) = watch.finish();
    assert_eq!(code, 0, "{stderr}");
    pair.undo(&run_id);
    let next: i64 = pair
        .destination()
        .await
        .query_one("SELECT nextval('t_id_seq')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1040, "back to the first round's target");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_subscription_is_watched_and_a_dropped_one_stops_the_watch_with_the_reason() {
    let pair = Pair::new("watch_sub").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    let config = pair.write_config(&format!(
        "[[instances]]\nid = \"w\"\nname = \"w\"\nkind = \"synchronization\"\nsubscription = \"{sub}\"\n\
         source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.source_url, pair.destination_url
    ));
    pair.wait_for("w", "running", "incremental").await;
    let config = config.to_str().unwrap().to_string();
    let watch = Watching::start(
        &pair,
        &[
            "--config",
            &config,
            "--instance",
            "w",
            "--offset",
            "100",
            "--interval",
            "100ms",
        ],
        &[],
    );
    let round = watch.next_round();
    assert_eq!(
        (round["status"].as_str(), round["phase"].as_str()),
        (Some("running"), Some("incremental"))
    );
    let destination = pair.destination().await;
    destination
        .batch_execute(&format!("ALTER SUBSCRIPTION {sub} DISABLE"))
        .await
        .unwrap();
    let paused = loop {
        let r = watch.next_round();
        if r["status"] == "paused" {
            break r;
        }
    };
    assert_eq!(
        paused["phase"], "incremental",
        "a paused task is still guarded"
    );
    destination
        .batch_execute(&format!(
            "ALTER SUBSCRIPTION {sub} SET (slot_name = NONE); DROP SUBSCRIPTION {sub}"
        ))
        .await
        .unwrap();
    let (code, stderr) = watch.finish();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Keep Sequences Ahead stopped for instance w")
            && stderr.contains("the task is finished")
            && stderr.contains(&format!("no subscription named {sub}")),
        "{stderr}"
    );
    pair.stop_replication().await;
}

/// A round long enough to be interrupted: 2,000 source sequences moved, applied 50 at a time.
async fn many_moved(pair: &Pair) -> Vec<String> {
    pair.both("DO $$ BEGIN FOR i IN 1..2000 LOOP EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$")
        .await;
    pair.source()
        .await
        .batch_execute("DO $$ BEGIN FOR i IN 1..2000 LOOP PERFORM setval(format('s%s', i), i); END LOOP; END $$")
        .await
        .unwrap();
    let mut args = pair.ad_hoc("", "100");
    args.remove(0);
    args.extend(["--interval", "100ms"]);
    args.into_iter().map(String::from).collect()
}

async fn all_at_target(pair: &Pair) -> bool {
    pair.destination_states()
        .await
        .iter()
        .all(|(name, last, called)| {
            let i: i64 = name.trim_start_matches("public.s").parse().unwrap();
            *called && *last == i + 100 - 1
        })
}

fn wait_for_journal(pair: &Pair, event: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !journal_lines(pair).iter().any(|e| e["event"] == event) {
        assert!(
            Instant::now() < deadline,
            "no {event} journaled within 30 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_in_the_middle_of_a_round_ends_after_that_round() {
    let pair = Pair::new("watch_sigint").await;
    let args = many_moved(&pair).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watch = Watching::start(&pair, &args, &[("SEQSYNC_APPLY_BATCH", "50")]);
    wait_for_journal(&pair, "batch-locked");
    watch.signal(libc::SIGINT);
    let (code, stderr) = watch.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("watch stopped after 1 round(s)"),
        "{stderr}"
    );
    let events: Vec<String> = journal_lines(&pair)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .filter(|e| e != "batch-locked")
        .collect();
    assert_eq!(
        events,
        ["plan", "apply-started", "applied"],
        "the round was finished, not rolled back"
    );
    assert!(all_at_target(&pair).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigint_rolls_the_round_under_way_back() {
    let pair = Pair::new("watch_second_sigint").await;
    let args = many_moved(&pair).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = pair.destination_states().await;
    // One sequence a batch: 2,000 batches, each journaled and committed, take seconds; the
    // signals come well within them.
    let watch = Watching::start(&pair, &args, &[("SEQSYNC_APPLY_BATCH", "1")]);
    wait_for_journal(&pair, "batch-locked");
    watch.signal(libc::SIGINT);
    // Two signals close together can arrive as one.
    std::thread::sleep(Duration::from_millis(200));
    watch.signal(libc::SIGINT);
    let (code, stderr) = watch.finish();
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("rolling back the current round"),
        "{stderr}"
    );
    assert!(stderr.contains("cancelled by the operator"), "{stderr}");
    assert_eq!(
        pair.destination_states().await,
        before,
        "every sequence the round had set is back: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_killed_mid_apply_is_settled_by_the_next_start() {
    let pair = Pair::new("watch_sigkill").await;
    let args = many_moved(&pair).await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut watch = Watching::start(&pair, &args, &[("SEQSYNC_APPLY_BATCH", "50")]);
    wait_for_journal(&pair, "batch-locked");
    watch.child.kill().unwrap();
    watch.child.wait().unwrap();
    let killed_run = journal_lines(&pair)[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!journal_lines(&pair).iter().any(|e| e["event"] == "applied"));

    let again = Watching::start(&pair, &args, &[]);
    let round = again.next_round();
    again.signal(libc::SIGINT);
    let (code, stderr) = again.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&killed_run),
        "the start says what it settled: {stderr}"
    );
    let journal = journal_lines(&pair);
    assert!(
        journal
            .iter()
            .any(|e| e["run_id"] == killed_run.as_str() && e["event"] == "recovered"),
        "the killed round is journaled as settled"
    );
    assert!(round["applied"].as_u64().is_some());
    assert!(
        all_at_target(&pair).await,
        "and the next round brought every sequence to its target"
    );
}

/// `--exclude` holds for every round: the left-out sequence is never written, however far its
/// source moves, while the rest keeps following.
#[tokio::test(flavor = "multi_thread")]
async fn an_excluded_sequence_is_left_alone_round_after_round() {
    let pair = Pair::new("watch_exclude").await;
    pair.both("CREATE SEQUENCE kept; CREATE SEQUENCE managed_by_app;")
        .await;
    let dst = pair.destination().await;
    dst.batch_execute("SELECT nextval('managed_by_app')")
        .await
        .unwrap();
    let untouched = || async {
        let r = dst
            .query_one(
                "SELECT format('%s/%s/%s', last_value, log_cnt, is_called) FROM managed_by_app",
                &[],
            )
            .await
            .unwrap();
        r.get::<_, String>(0)
    };
    let before = untouched().await;
    let mut args = pair.ad_hoc("", "1000");
    args.remove(0);
    args.extend(["--interval", "100ms", "--exclude", "public.managed_*"]);
    let watch = Watching::start(&pair, &args, &[]);
    let first = watch.next_round();
    assert_eq!(first["applied"], 1, "only kept: {first}");
    pair.source()
        .await
        .batch_execute("SELECT setval('kept', 50), setval('managed_by_app', 5000)")
        .await
        .unwrap();
    let moved = loop {
        let round = watch.next_round();
        if round["changed"] != 0 {
            break round;
        }
    };
    assert_eq!(
        (moved["changed"].as_u64(), moved["applied"].as_u64()),
        (Some(2), Some(1)),
        "both moved, one applied: {moved}"
    );
    watch.signal(libc::SIGINT);
    let (code, stderr) = watch.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(untouched().await, before, "byte for byte");
}

/// What a round must show once a change is made.
type Shows = Box<dyn Fn(&serde_json::Value) -> bool>;

/// Idle rounds read quickly (a fingerprint and the values); any change the plan depends on is
/// seen by the very next round, read in full — not only at the periodic full read.
#[tokio::test(flavor = "multi_thread")]
async fn quick_idle_rounds_see_every_change_at_the_next_round() {
    let pair = Pair::new("watch_quick").await;
    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b; CREATE TABLE t (id bigint); CREATE SEQUENCE o OWNED BY t.id")
        .await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a', 50); SELECT setval('b', 60)")
        .await
        .unwrap();
    let mut args = pair.ad_hoc("", "100")[1..].to_vec();
    args.extend(["--interval", "100ms"]);
    let watch = Watching::start(&pair, &args, &[]);
    // The first round applies; then idle rounds go quick, on servers whose transaction ids
    // move on between rounds as a busy server's do.
    let (source, destination) = (pair.source().await, pair.destination().await);
    let mut quick = 0;
    for _ in 0..6 {
        let r = watch.next_round();
        quick += usize::from(r["full_read"] == false);
        for side in [&source, &destination] {
            side.batch_execute("SELECT txid_current()").await.unwrap();
        }
    }
    assert!(quick >= 3, "idle rounds read quickly: {quick} of 6");
    // Each change, then the next round must be full and show it.
    let changes: [(&str, Shows); 4] = [
        (
            "ALTER SEQUENCE b RENAME TO b2",
            Box::new(|r| r["refusals"].to_string().contains("missing-in-")),
        ),
        (
            "SELECT setval('a', 40, false)",
            Box::new(|r| r["applied"] == 1),
        ),
        (
            "ALTER TABLE t RENAME COLUMN id TO ident",
            Box::new(|r| r["full_read"] == true),
        ),
        (
            "CREATE SEQUENCE c",
            Box::new(|r| r["refusals"].to_string().contains("\"c\"")),
        ),
    ];
    for (sql, shows) in changes {
        // Start from a quick round, so the change meets the quick path.
        while watch.next_round()["full_read"] != false {}
        destination.batch_execute(sql).await.unwrap();
        let mut seen = false;
        for _ in 0..2 {
            let r = watch.next_round();
            if shows(&r) {
                assert_eq!(r["full_read"], true, "{sql}: {r}");
                seen = true;
                break;
            }
        }
        assert!(seen, "{sql}: not seen within two rounds");
    }
    watch.signal(libc::SIGINT);
    let (code, stderr) = watch.finish();
    assert_eq!(code, 0, "{stderr}");
}
