//! The real binary in tmux against the test clusters: open the instance, `s`, type an offset,
//! preview, confirm, read the screen, then check every destination sequence in the database.

mod common;
use common::tmux::Tmux;
use common::Pair;

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_console_flow_by_keys_sets_every_sequence() {
    let pair = Pair::new("e2e").await;
    let sub = pair
        .replicate(
            "CREATE TABLE orders (id serial PRIMARY KEY, note text); \
             CREATE SEQUENCE invoice_no; CREATE SEQUENCE refund_no INCREMENT -1;",
            "orders",
        )
        .await;
    pair.source()
        .await
        .batch_execute(
            "INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 300); \
             SELECT setval('invoice_no', 4200); SELECT setval('refund_no', -77);",
        )
        .await
        .unwrap();
    let config = pair.write_config(&format!(
        r#"
[defaults]
offset = 1000

[[instances]]
id = "orders-e2e"
name = "orders end to end"
region = "eu-central"
subscription = "{sub}"
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    ));
    pair.wait_for("orders-e2e", "running", "incremental").await;

    let command = pair.tui_command(&config, "", "sleep 30");
    let tmux = Tmux::start("e2e", &command, 100, 30);
    let list = tmux.wait_for("running", 30);
    assert!(
        list.contains("orders-e2e") && list.contains("incremental"),
        "{list}"
    );
    tmux.keys(&["Enter"]);
    let basic = tmux.wait_for("Synchronize Sequence (s)", 30);
    // Each endpoint as the operator checks it (database on host:port), never its password.
    assert!(
        basic.contains(&format!("{} on 127.0.0.1:", pair.name)),
        "{basic}"
    );
    assert!(!basic.contains(&common::test_password()));
    // A smaller terminal redraws at once, still whole.
    tmux.resize(80, 24);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Redrawn, not cut: the detail box closes at the new right edge.
        let screen = tmux.screen();
        let box_top = screen.lines().nth(1).unwrap_or_default().to_string();
        if box_top.chars().count() == 80 && box_top.ends_with('┐') {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not redrawn at 80×24:\n{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux.resize(100, 30);
    tmux.keys(&["s"]);
    tmux.wait_for("Sequence Offset", 30);
    tmux.keys(&["C-u", "2", "5", "0", "0", "Enter"]);
    let preview = tmux.wait_for("Apply 3 change(s)?", 30);
    assert!(preview.contains("Plan — offset 2500"), "{preview}");
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized", 30);
    assert!(results.contains("3 updated"), "{results}");
    assert!(
        results.contains("2800"),
        "orders_id_seq after = 300 + 2500: {results}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("Basic Information", 30);
    tmux.keys(&["q"]);

    let dst = pair.destination().await;
    let id: i32 = dst
        .query_one(
            "INSERT INTO orders (note) VALUES ('after cutover') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 2_800, "no duplicate key: the next id is the target");
    let invoice: i64 = dst
        .query_one("SELECT nextval('invoice_no')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(invoice, 6_700);
    let refund: i64 = dst
        .query_one("SELECT nextval('refund_no')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(refund, -2_577);
    let journal = std::fs::read_to_string(pair.journal()).unwrap();
    assert!(journal.contains("\"event\":\"applied\""));
    pair.stop_replication().await;
}

/// The binary in tmux again: a sync killed part-way is settled when the TUI starts (and the
/// screen says so), then the History tab undoes a run by keys.
#[tokio::test(flavor = "multi_thread")]
async fn the_tui_settles_a_killed_run_at_start_and_undoes_a_run_from_history() {
    let pair = Pair::new("e2e_undo").await;
    let create: String = (1..=6).map(|i| format!("CREATE SEQUENCE s{i};")).collect();
    pair.both(&create).await;
    let set: String = (1..=6)
        .map(|i| format!("SELECT setval('s{i}', {});", 100 * i))
        .collect();
    pair.source().await.batch_execute(&set).await.unwrap();
    let original = pair.destination_states().await;
    let config = pair.write_config(&format!(
        r#"
[defaults]
offset = 1000

[[instances]]
id = "undo-e2e"
status = "running"
phase = "incremental"
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    ));

    let command = |extra_env: &str| pair.tui_command(&config, extra_env, "sleep 30");

    // The TUI applies two sequences per batch; the third batch waits on a held lock, and the
    // TUI is killed there (SIGKILL: no rollback runs). Two batches stay set.
    let first = Tmux::start(
        "e2e_killed",
        &command("SEQSYNC_APPLY_BATCH=2 SEQSYNC_DEFAULTS__LOCK_TIMEOUT=30s"),
        100,
        30,
    );
    first.wait_for("undo-e2e", 30);
    first.keys(&["Enter"]);
    first.wait_for("Synchronize Sequence (s)", 30);
    first.keys(&["s"]);
    first.wait_for("Sequence Offset", 30);
    first.keys(&["Enter"]);
    first.wait_for("Apply 6 change(s)?", 30);
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 INCREMENT 1;")
        .await
        .unwrap();
    first.keys(&["y"]);
    let observer = pair.destination().await;
    common::wait_for_lock_wait(&observer, &pair.name).await;
    common::tmux::kill_tui(&config);
    drop(first);
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_ne!(pair.destination_states().await, original, "half-applied");

    // At 80×24, the smallest screen seqsync promises.
    let tmux = Tmux::start("e2e_undo", &command(""), 80, 24);
    let screen = tmux.wait_for("restored them", 30);
    let unwrapped = flat(&screen);
    assert!(
        unwrapped.contains("was not applied: it was killed part-way, after setting 4 of 6"),
        "{screen}"
    );
    assert_eq!(pair.destination_states().await, original);

    // Sync by keys, then undo it from History.
    tmux.keys(&["Enter"]);
    tmux.wait_for("Synchronize Sequence (s)", 30);
    tmux.keys(&["s"]);
    tmux.wait_for("Sequence Offset", 30);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Apply 6 change(s)?", 30);
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized", 30);
    // The results say the run and how to undo it.
    let run = results
        .split("Synchronized · run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id on the results: {results}"))
        .to_string();
    assert!(results.contains("to undo it: H"), "{results}");
    let next: i64 = observer
        .query_one(
            "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM s3",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1_300);
    // H goes straight to this run in History.
    tmux.keys(&["H"]);
    // The History tab's own header: the results headline names the run too, so waiting for the
    // run id alone could return before H took effect.
    let history = tmux.wait_for("WHEN (UTC)", 30);
    assert!(history.contains(&format!("run {run}")), "{history}");
    assert!(history.contains("applied"), "{history}");
    assert!(history.contains("recovered"), "{history}");
    // One line per run (a run's plan is not a line of its own once it was applied), and the
    // selected run told in full with its id and how to undo it.
    assert!(!history.lines().any(|l| l.contains(" plan ")), "{history}");
    assert!(flat(&history).contains("u undoes it"), "{history}");
    // Newest first: the applied run is selected; confirm and undo.
    tmux.keys(&["u"]);
    tmux.wait_for("Enter/y: undo", 30);
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized", 30);
    assert!(results.contains("6 updated"), "{results}");
    assert_eq!(pair.destination_states().await.len(), 6);
    for (then, now) in original.iter().zip(pair.destination_states().await) {
        let next = |s: &(String, i64, bool)| if s.2 { s.1 + 1 } else { s.1 };
        assert_eq!(next(then), next(&now), "{} is back", then.0);
    }
    tmux.keys(&["Escape"]);
    tmux.wait_for("Basic Information", 30);
    tmux.keys(&["q"]);
}

/// Keep Sequences Ahead by keys: `w`, an offset, rounds that follow the source's writes live,
/// then Esc stops after the round and Basic Information says how many rounds ran.
#[tokio::test(flavor = "multi_thread")]
async fn the_tui_keeps_sequences_ahead_while_the_source_writes() {
    let pair = Pair::new("e2e_watch").await;
    let sub = pair
        .replicate(
            "CREATE TABLE orders (id serial PRIMARY KEY, note text)",
            "orders",
        )
        .await;
    let source = pair.source().await;
    source
        .batch_execute("INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 100)")
        .await
        .unwrap();
    let config = pair.write_config(&format!(
        r#"
[defaults]
watch_interval = "300ms"

[[instances]]
id = "orders-watch"
name = "orders kept ahead"
subscription = "{sub}"
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    ));
    pair.wait_for("orders-watch", "running", "incremental")
        .await;
    let command = pair.tui_command(&config, "", "sleep 30");
    let tmux = Tmux::start("e2e-watch", &command, 100, 30);
    tmux.wait_for("orders-watch", 30);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Keep Sequences Ahead (w)", 30);
    tmux.keys(&["w"]);
    tmux.wait_for("measuring rates: suggestion in", 30);
    tmux.keys(&["C-u", "1", "0", "0", "0", "Enter"]);
    tmux.wait_for("Keeping ahead: round", 30);
    let next = |dst: tokio_postgres::Row| -> i64 {
        let (last, called): (i64, bool) = (dst.get(0), dst.get(1));
        if called {
            last + 1
        } else {
            last
        }
    };
    let destination = pair.destination().await;
    let read_next = || async {
        next(
            destination
                .query_one("SELECT last_value, is_called FROM orders_id_seq", &[])
                .await
                .unwrap(),
        )
    };
    assert_eq!(read_next().await, 1_100, "the first round: 100 + 1000");
    source
        .batch_execute("INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 250)")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while read_next().await != 1_350 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch never followed the writes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let live = tmux.wait_for("1350", 30);
    assert!(
        live.contains("public.orders_id_seq") && live.contains("running"),
        "{live}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("Stop keeping sequences ahead?", 30);
    tmux.keys(&["y"]);
    let stopped = tmux.wait_for("Keep Sequences Ahead stopped after", 30);
    assert!(stopped.contains("Basic Information"), "{stopped}");
    tmux.keys(&["q"]);
    let journal = std::fs::read_to_string(pair.journal()).unwrap();
    let applied = journal.matches("\"event\":\"applied\"").count();
    // The first round, and the one after the writes (two, if a round read the sequence while
    // the INSERT was drawing from it); the idle rounds between journal nothing.
    assert!((2..=3).contains(&applied), "{applied} applying rounds");
    pair.stop_replication().await;
}

/// A screen's text with borders and line breaks folded to single spaces, so that a sentence
/// wrapped on a narrow screen reads as one.
fn flat(screen: &str) -> String {
    screen
        .replace(['│', '┌', '┐', '└', '┘', '─'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// After cutover, by keys: a finished task whose source is gone, its destination loaded with
/// explicit ids and every sequence at its start. `r`, a margin, the preview, `y`: the results
/// say Repaired with before and after, and the application's next insert succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn repair_from_data_by_keys_on_a_finished_task_whose_source_is_gone() {
    let pair = Pair::new("e2e_repair").await;
    let destination = pair.destination().await;
    destination
        .batch_execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, note text);
             CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
             INSERT INTO orders SELECT g, 'copied' FROM generate_series(1, 51200) g;
             INSERT INTO items SELECT g FROM generate_series(1, 700) g;",
        )
        .await
        .unwrap();
    assert!(
        destination
            .batch_execute("INSERT INTO orders (note) VALUES ('app')")
            .await
            .is_err(),
        "the scene starts with the duplicate key"
    );
    let config = pair.write_config(&format!(
        r#"
[[instances]]
id = "cutover-done"
name = "finished migration"
kind = "migration"
status = "finished"
phase = "incremental"
source      = {{ engine = "postgresql", url = "postgresql://postgres@127.0.0.1:1/gone?connect_timeout=1" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.destination_url
    ));
    for (width, height) in [(80, 24), (120, 40)] {
        let command = pair.tui_command(&config, "", "sleep 30");
        let tmux = Tmux::start(&format!("repair{width}"), &command, width, height);
        tmux.wait_for("Data Migration", 30);
        tmux.keys(&["Tab"]);
        tmux.wait_for("cutover-done", 30);
        tmux.keys(&["Enter"]);
        tmux.wait_for("Repair from Data (r)", 30);
        // Read as the screen opens: both sequences are behind their data.
        let basic = tmux.wait_for("2 sequence(s) behind their data", 30);
        assert!(basic.contains("finished"), "{basic}");
        tmux.keys(&["r"]);
        tmux.wait_for("valid margin", 30);
        tmux.keys(&["Enter"]);
        let preview = tmux.wait_for("Apply 2 change(s)?", 30);
        assert!(
            preview.contains("Repair from Data — margin 1000"),
            "{preview}"
        );
        assert!(
            flat(&preview).contains("public.items.id holds 700; next value 1701"),
            "each row's story: {preview}"
        );
        assert!(
            flat(&preview).contains("the source did not answer"),
            "the gone source is said: {preview}"
        );
        tmux.keys(&["y"]);
        let results = tmux.wait_for("Repaired", 30);
        assert!(results.contains("2 updated"), "{results}");
        assert!(
            results.contains("52201"),
            "orders after = 51200 + 1001: {results}"
        );
        tmux.keys(&["q"]);
        if width == 80 {
            // Undo it from History, so the second size starts from the same broken scene.
            let journal = std::fs::read_to_string(pair.journal()).unwrap();
            let run = journal
                .lines()
                .rev()
                .find(|l| l.contains("\"event\":\"applied\""))
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|e| e["run_id"].as_str().unwrap().to_string())
                .expect("an applied repair in the journal");
            let out = pair.run(&["--config", config.to_str().unwrap(), "undo", &run, "--yes"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let id: i32 = destination
        .query_one("INSERT INTO orders (note) VALUES ('app') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 52_201, "the insert after the repair succeeds");
}
