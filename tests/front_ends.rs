//! The CLI and the TUI's worker call the same use cases, so what a user sees does not depend on
//! the front end: each test here pins a way the two used to differ (endpoint warnings shown by
//! one only, a deadline kept by one only, different journal entries for the same run, interrupted
//! runs settled before a plan by one only). Real PostgreSQL; the TUI side is driven through its
//! worker and `update`, exactly as the event loop does.

mod common;

use common::Pair;
use seqsync::app::msg::{Effect, Msg, Response};
use seqsync::app::state::{Dialog, Setting, State};
use seqsync::app::update::update;
use seqsync::config;
use seqsync::engine::instance::Instance;
use seqsync::engine::journal::{Journal, JournalEvent};
use seqsync::engine::offset::Offset;
use seqsync::engine::run::Context;
use seqsync::worker::{self, WorkerConfig};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// An instance whose replication seqsync cannot see: declared running and incremental.
fn declared(id: &str, source: &str, destination: &str) -> String {
    format!(
        "[[instances]]\nid = \"{id}\"\nstatus = \"running\"\nphase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{source}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{destination}\" }}\n"
    )
}

fn configured(pair: &Pair, toml: &str, id: &str) -> Instance {
    let path = pair.write_config(toml);
    let settings = config::load(Some(&path)).unwrap();
    settings.instance(id).unwrap().clone()
}

fn worker_on(pair: &Pair) -> (UnboundedSender<Effect>, UnboundedReceiver<Response>) {
    worker::spawn(WorkerConfig {
        context: Context {
            timeouts: Default::default(),
            journal: Journal::new(pair.journal()),
            batch_size: 2_500,
        },
        observers: seqsync::engine::run::ObserveGate::new(4, 4),
        dts: None,
        overlays: vec![],
    })
}

/// The worker's answer to `effect`, skipping progress reports.
async fn ask(
    (requests, responses): &mut (UnboundedSender<Effect>, UnboundedReceiver<Response>),
    effect: Effect,
) -> Response {
    requests.send(effect).unwrap();
    loop {
        let response = tokio::time::timeout(Duration::from_secs(30), responses.recv())
            .await
            .expect("the worker answers")
            .expect("the worker is alive");
        if !matches!(response, Response::Progress { .. }) {
            return response;
        }
    }
}

fn plan_effect(instance: &Instance, request: u64, offset: i64) -> Effect {
    Effect::Plan {
        request,
        instance: Box::new(instance.clone()),
        offset: Offset::new(offset).unwrap(),
    }
}

/// The TUI, with the Synchronize Sequence dialog waiting for plan `request`.
fn planning(instance: &Instance, request: u64, offset: i64) -> State {
    let mut state = State::new(vec![instance.clone()], None, String::new());
    state.dialog = Dialog::Planning {
        request,
        setting: Setting::Offset(Offset::new(offset).unwrap()),
    };
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prerequisite_check_against_a_silent_host_ends_within_its_deadline_in_the_cli() {
    let pair = Pair::new("fe_deadline").await;
    // Accepts connections (the kernel's backlog) and never answers. Three hosts make one
    // connect attempt take three connect timeouts, longer than the check's deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url =
        format!("postgresql://postgres@127.0.0.1:{port},127.0.0.1:{port},127.0.0.1:{port}/db");
    pair.write_config(&format!(
        "[defaults]\nconnect_timeout = \"1s\"\n{}",
        declared("silent", &url, &url)
    ));
    let started = Instant::now();
    let out = pair.run(&["plan", "--instance", "silent", "--offset", "10"]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not available"), "{stderr}");
    assert!(stderr.contains("no answer within 2s"), "{stderr}");
    // The deadline is the connect timeout plus a second; the whole command ends soon after.
    assert!(elapsed < Duration::from_millis(3_500), "took {elapsed:?}");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tui_shows_the_endpoint_warnings_the_cli_prints() {
    let pair = Pair::new("fe_pgpass").await;
    pair.both("CREATE SEQUENCE w;").await;
    // Passwordless Unix-socket URLs (trust), so ~/.pgpass is consulted, and ignored: others
    // may read it.
    let root = std::env::var("SEQSYNC_TEST_ROOT").expect("run by scripts/test");
    let socket = |url: &str, cluster: &str| {
        let config: tokio_postgres::Config = url.parse().unwrap();
        format!(
            "host={root}/{cluster} port={} user=postgres dbname={}",
            config.get_ports()[0],
            pair.name
        )
    };
    let pgpass = pair.dir.join("pgpass");
    std::fs::write(&pgpass, "*:*:*:*:not-this-one\n").unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::env::set_var("PGPASSFILE", &pgpass);
    std::env::remove_var("PGPASSWORD");
    let instance = configured(
        &pair,
        &declared(
            "warned",
            &socket(&pair.source_url, "source"),
            &socket(&pair.destination_url, "destination"),
        ),
        "warned",
    );

    let out = pair
        .command(&["plan", "--instance", "warned", "--offset", "10"])
        .env("PGPASSFILE", &pgpass)
        .output()
        .unwrap();
    let cli_stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{cli_stderr}");
    assert!(
        cli_stderr.contains("warning:") && cli_stderr.contains("pgpass"),
        "{cli_stderr}"
    );

    let mut tui = worker_on(&pair);
    let response = ask(&mut tui, plan_effect(&instance, 1, 10)).await;
    let Response::Planned {
        result, notices, ..
    } = &response
    else {
        panic!("{response:?}")
    };
    assert!(result.is_ok(), "{result:?}");
    assert!(
        notices.iter().any(|n| n.text.contains("pgpass")),
        "{notices:?}"
    );
    let mut state = planning(&instance, 1, 10);
    update(&mut state, Msg::Worker(response));
    assert!(matches!(state.dialog, Dialog::Preview { .. }));
    let message = state.message.expect("the warning is on screen");
    assert!(message.text.contains("pgpass"), "{}", message.text);
    assert!(!message.error, "a warning, not an error");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_and_the_tui_journal_the_same_entries_for_a_run() {
    let pair = Pair::new("fe_journal").await;
    pair.both("CREATE SEQUENCE j1; CREATE SEQUENCE j2;").await;
    let instance = configured(
        &pair,
        &declared("same", &pair.source_url, &pair.destination_url),
        "same",
    );
    let out = pair.run(&["sync", "--instance", "same", "--offset", "100", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);

    let mut tui = worker_on(&pair);
    match ask(&mut tui, plan_effect(&instance, 1, 200)).await {
        Response::Planned { result: Ok(_), .. } => {}
        other => panic!("{other:?}"),
    }
    match ask(
        &mut tui,
        Effect::Apply {
            request: 1,
            selection: Default::default(),
        },
    )
    .await
    {
        Response::Applied { outcome, .. } => assert_eq!(outcome, "applied"),
        other => panic!("{other:?}"),
    }

    let entries = Journal::new(pair.journal()).read_all().unwrap();
    let mut runs: Vec<(String, Vec<&str>)> = vec![];
    for e in &entries {
        match runs.iter_mut().find(|(id, _)| *id == e.run_id) {
            Some((_, events)) => events.push(e.event.word()),
            None => runs.push((e.run_id.clone(), vec![e.event.word()])),
        }
    }
    assert_eq!(runs.len(), 2, "{runs:?}");
    let expected = vec!["plan", "apply-started", "batch-locked", "applied"];
    assert_eq!(runs[0].1, expected, "sync");
    assert_eq!(runs[1].1, expected, "the TUI");
    // The second run read the first one's targets (offset 100) and moved them to offset 200.
    let last = entries.last().unwrap();
    assert!(last
        .rows
        .iter()
        .all(|r| r.destination_before == Some(101) && r.destination_after == Some(201)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tui_settles_an_interrupted_run_before_a_new_plan_on_that_destination() {
    let pair = Pair::new("fe_settle").await;
    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b;").await;
    let instance = configured(
        &pair,
        &declared("killed", &pair.source_url, &pair.destination_url),
        "killed",
    );
    // A run killed after its first batch (sequence a) was set: the journal has its intent and
    // a's exact state under the lock; the destination holds a's target.
    let run_id = common::journal_killed_run(&pair, "killed", &["a", "b"], "a");
    let journal = Journal::new(pair.journal());
    pair.destination()
        .await
        .batch_execute("SELECT setval('a', 1000, true)")
        .await
        .unwrap();

    let mut tui = worker_on(&pair);
    let response = ask(&mut tui, plan_effect(&instance, 7, 5)).await;
    let Response::Planned {
        result, notices, ..
    } = &response
    else {
        panic!("{response:?}")
    };
    let rows = result.as_ref().expect("planned after settling");
    assert!(
        notices
            .iter()
            .any(|n| n.text.contains(&run_id) && n.text.contains("restored")),
        "{notices:?}"
    );
    // a is back where the killed run found it, so the new plan starts from there.
    let a = rows.rows().iter().find(|r| r.name == "a").unwrap();
    assert_eq!((a.destination_before, a.target), (Some(1), Some(6)));
    assert_eq!(
        pair.destination_states().await,
        vec![("public.a".into(), 1, false), ("public.b".into(), 1, false)]
    );
    let events: Vec<JournalEvent> = journal
        .read_all()
        .unwrap()
        .iter()
        .filter(|e| e.run_id == run_id)
        .map(|e| e.event)
        .collect();
    assert_eq!(events.last(), Some(&JournalEvent::Recovered));
    let mut state = planning(&instance, 7, 5);
    update(&mut state, Msg::Worker(response));
    let message = state.message.expect("what the start settled is on screen");
    assert!(message.text.contains(&run_id), "{}", message.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_from_the_cli_and_the_tui_plans_the_same_rows_and_journals_the_same_events() {
    let pair = Pair::new("fe_repair").await;
    pair.both("CREATE TABLE r (id bigserial PRIMARY KEY); CREATE SEQUENCE loose;")
        .await;
    let destination = pair.destination().await;
    let instance = configured(
        &pair,
        &declared("after", &pair.source_url, &pair.destination_url),
        "after",
    );
    let behind =
        "SELECT setval('r_id_seq', 1, false); SELECT setval('loose', 1, false); DELETE FROM r; \
                  INSERT INTO r SELECT generate_series(1, 400);";
    destination.batch_execute(behind).await.unwrap();
    let (code, cli, stderr) = pair.run_json(&[
        "repair",
        "--instance",
        "after",
        "--margin",
        "50",
        "--offset",
        "5",
        "--yes",
    ]);
    assert_eq!(code, 0, "{stderr}");

    destination.batch_execute(behind).await.unwrap();
    let mut tui = worker_on(&pair);
    let choice = match ask(
        &mut tui,
        Effect::Repair {
            request: 1,
            instance: Box::new(instance.clone()),
            margin: 50,
            offset: Offset::new(5).unwrap(),
        },
    )
    .await
    {
        Response::Planned {
            result: Ok(choice), ..
        } => choice,
        other => panic!("{other:?}"),
    };
    let planned: Vec<(String, Option<i64>, String)> = choice
        .rows()
        .iter()
        .map(|r| (r.name.to_string(), r.target, r.message.clone()))
        .collect();
    let from_cli: Vec<(String, Option<i64>, String)> = common::rows(&cli)
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["target"].as_i64(),
                r["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(planned, from_cli, "one planner for both front ends");
    assert_eq!(planned[1].1, Some(451), "r_id_seq past 400 by the margin");
    match ask(
        &mut tui,
        Effect::Apply {
            request: 1,
            selection: Default::default(),
        },
    )
    .await
    {
        Response::Applied { outcome, .. } => assert_eq!(outcome, "applied"),
        other => panic!("{other:?}"),
    }
    let entries = Journal::new(pair.journal()).read_all().unwrap();
    let mut runs: Vec<(String, Vec<&str>, Option<u64>)> = vec![];
    for e in &entries {
        match runs.iter_mut().find(|(id, _, _)| *id == e.run_id) {
            Some((_, events, _)) => events.push(e.event.word()),
            None => runs.push((e.run_id.clone(), vec![e.event.word()], e.margin)),
        }
    }
    let expected = vec!["plan", "apply-started", "batch-locked", "applied"];
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (_, events, margin) in &runs {
        assert_eq!(events, &expected);
        assert_eq!(*margin, Some(50), "journaled as a repair");
    }
}

/// The confirmation can take minutes while a replication still writes: a repair reads its
/// columns again under the applier lock and refuses, changing nothing, when a row arrived at
/// or past a target.
#[tokio::test(flavor = "multi_thread")]
async fn rows_arriving_past_a_repair_target_before_its_apply_refuse_it_and_change_nothing() {
    let pair = Pair::new("fe_repair_late").await;
    pair.both("CREATE TABLE late (id bigserial PRIMARY KEY);")
        .await;
    let destination = pair.destination().await;
    destination
        .batch_execute("INSERT INTO late SELECT generate_series(1, 100)")
        .await
        .unwrap();
    let instance = configured(
        &pair,
        &declared("late", &pair.source_url, &pair.destination_url),
        "late",
    );
    let mut tui = worker_on(&pair);
    let repair = Effect::Repair {
        request: 1,
        instance: Box::new(instance),
        margin: 10,
        offset: Offset::new(0).unwrap(),
    };
    match ask(&mut tui, repair).await {
        Response::Planned {
            result: Ok(choice), ..
        } => assert_eq!(choice.rows()[0].target, Some(111)),
        other => panic!("{other:?}"),
    }
    destination
        .batch_execute("INSERT INTO late SELECT generate_series(101, 130)")
        .await
        .unwrap();
    let before = common::states(&destination).await;
    let apply = Effect::Apply {
        request: 1,
        selection: Default::default(),
    };
    match ask(&mut tui, apply).await {
        Response::ApplyRefused { error, .. } => {
            assert!(
                error.contains("public.late.id now holds 130, past the target 111")
                    && error.contains("nothing was applied"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        common::states(&destination).await,
        before,
        "nothing changed"
    );
}
