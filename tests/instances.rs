//! Instances against real logical replication between the test clusters: live status and
//! phase, the prerequisites gate in `instances`, `plan` and `sync`, and slow hosts.

mod common;
use common::Pair;
use std::time::{Duration, Instant};

const TABLE: &str = "CREATE TABLE orders (id serial PRIMARY KEY, note text);";

fn instance(pair: &Pair, id: &str, extra: &str) -> String {
    format!(
        r#"
[[instances]]
id = "{id}"
{extra}
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    )
}

fn plan_code(pair: &Pair, id: &str) -> (i32, String) {
    let out = pair.run(&["plan", "--instance", id, "--offset", "10"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn status_follows_the_subscription_running_paused_running() {
    let pair = Pair::new("inst_status").await;
    let sub = pair.replicate(TABLE, "orders").await;
    pair.source()
        .await
        .batch_execute("INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 100)")
        .await
        .unwrap();
    pair.write_config(&instance(
        &pair,
        "live",
        &format!("subscription = \"{sub}\""),
    ));

    let live = pair.wait_for("live", "running", "incremental").await;
    assert_eq!(live["synchronize_sequence"], true, "{live:#}");
    assert_eq!(live["two_way_detected"], false);
    assert_eq!(plan_code(&pair, "live").0, 0);

    let dst = pair.destination().await;
    dst.batch_execute(&format!("ALTER SUBSCRIPTION {sub} DISABLE"))
        .await
        .unwrap();
    let paused = pair.wait_for("live", "paused", "incremental").await;
    assert!(
        paused["note"].as_str().unwrap().contains("disabled"),
        "{paused:#}"
    );
    assert_eq!(paused["synchronize_sequence"], true, "paused is allowed");
    let (code, stderr) = plan_code(&pair, "live");
    assert_eq!(code, 0, "{stderr}");

    dst.batch_execute(&format!("ALTER SUBSCRIPTION {sub} ENABLE"))
        .await
        .unwrap();
    pair.wait_for("live", "running", "incremental").await;
    pair.stop_replication().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_data_phase_while_the_initial_copy_waits_then_incremental() {
    let pair = Pair::new("inst_phase").await;
    pair.both(TABLE).await;
    let src = pair.source().await;
    src.batch_execute("INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 50)")
        .await
        .unwrap();
    // The initial copy writes into the destination's table; this lock holds it in the
    // full-data phase. (A lock on the source's table would need a transaction id, and creating
    // the replication slot waits for every transaction that has one.)
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE orders IN SHARE MODE")
        .await
        .unwrap();
    src.batch_execute(&format!(
        "CREATE PUBLICATION pub_{0} FOR TABLE orders",
        pair.name
    ))
    .await
    .unwrap();
    let sub = format!("sub_{}", pair.name);
    common::subscribe(
        &src,
        &pair.destination().await,
        &sub,
        &format!("pub_{}", pair.name),
        &pair.conninfo(&pair.source_url),
    )
    .await;
    pair.write_config(&instance(
        &pair,
        "copying",
        &format!("subscription = \"{sub}\""),
    ));

    let copying = pair.wait_for("copying", "running", "full-data").await;
    assert!(
        copying["note"]
            .as_str()
            .unwrap()
            .contains("1 of 1 table(s) still in their initial copy"),
        "{copying:#}"
    );
    let (code, stderr) = plan_code(&pair, "copying");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("full-data phase"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    holder.batch_execute("COMMIT").await.unwrap();
    pair.wait_for("copying", "running", "incremental").await;
    assert_eq!(plan_code(&pair, "copying").0, 0);
    pair.stop_replication().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_way_is_refused_whether_declared_or_detected() {
    let pair = Pair::new("inst_twoway").await;
    let sub = pair
        .replicate(
            "CREATE TABLE orders (id serial PRIMARY KEY); CREATE TABLE back (id int PRIMARY KEY);",
            "orders",
        )
        .await;
    let config = format!(
        "{}{}",
        instance(&pair, "detected", &format!("subscription = \"{sub}\"")),
        instance(
            &pair,
            "declared",
            "topology = \"two-way\"\nstatus = \"running\"\nphase = \"incremental\""
        )
    );
    pair.write_config(&config);
    // One-way and incremental first; the subscription back below is what makes it two-way.
    pair.wait_for("detected", "running", "incremental").await;
    // And back: the source subscribes to the destination's table `back`.
    pair.destination()
        .await
        .batch_execute(&format!(
            "CREATE PUBLICATION back_{0} FOR TABLE back",
            pair.name
        ))
        .await
        .unwrap();
    let back = format!("back_{}", pair.name);
    common::subscribe(
        &pair.destination().await,
        &pair.source().await,
        &back,
        &back,
        &pair.conninfo(&pair.destination_url),
    )
    .await;
    let (_, listed, _) = pair.instances();
    let detected = listed[0].clone();
    assert_eq!(detected["id"], "detected");
    assert_eq!(detected["two_way_detected"], true, "{detected:#}");
    assert_eq!(detected["synchronize_sequence"], false);
    let reason = detected["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("two-way replication detected: the source database also subscribes to the destination (slot back_{})", pair.name)),
        "{reason}"
    );
    let (code, stderr) = plan_code(&pair, "detected");
    assert_eq!(code, 2, "{stderr}");

    let (code, stderr) = plan_code(&pair, "declared");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("two-way synchronization is not supported"),
        "{stderr}"
    );
    let out = pair.run(&["sync", "--instance", "declared", "--offset", "10", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    pair.stop_replication().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_pairs_and_tasks_without_incremental_are_refused() {
    let pair = Pair::new("inst_refused").await;
    pair.both("CREATE SEQUENCE s;").await;
    let full_only = instance(
        &pair,
        "full-only",
        "kind = \"migration\"\nsteps = [\"schema\", \"full-data\"]\nstatus = \"running\"\nphase = \"incremental\"",
    );
    pair.write_config(&full_only);
    let (code, stderr) = plan_code(&pair, "full-only");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no incremental step (steps: schema, full-data)"),
        "{stderr}"
    );
    let (code, json, _) = pair.instances();
    assert_eq!(code, 0);
    assert_eq!(json[0]["synchronize_sequence"], false);

    let unsupported = format!(
        "{full_only}\n[[instances]]\nid = \"ora\"\nstatus = \"running\"\nphase = \"incremental\"\n\
         source = {{ engine = \"oracle\", url = \"//ora:1521/X\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.destination_url
    );
    pair.write_config(&unsupported);
    for args in [
        &["instances"][..],
        &["plan", "--instance", "full-only", "--offset", "1"][..],
    ] {
        let out = pair.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr
                .contains("instance 'ora': unsupported pair oracle → postgresql; supported pairs:"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_instances_with_ten_unreachable_list_within_the_timeout() {
    let pair = Pair::new("inst_many").await;
    let sub = pair.replicate(TABLE, "orders").await;
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let mut config = "[defaults]\nconnect_timeout = \"1s\"\n".to_string();
    for i in 0..50 {
        let port = match i % 5 {
            _ if i >= 10 => None,
            0 | 2 | 4 => Some(refused_port),
            _ => Some(silent_port),
        };
        config.push_str(&match port {
            None => instance(&pair, &format!("ok-{i}"), &format!("subscription = \"{sub}\"")),
            Some(port) => format!(
                "[[instances]]\nid = \"down-{i}\"\nsubscription = \"{sub}\"\n\
                 source = {{ engine = \"postgresql\", url = \"postgresql://postgres@127.0.0.1:{port}/db\" }}\n\
                 destination = {{ engine = \"postgresql\", url = \"postgresql://postgres@127.0.0.1:{port}/db\" }}\n"
            ),
        });
    }
    pair.write_config(&config);
    pair.wait_for("ok-10", "running", "incremental").await;

    let started = Instant::now();
    let (code, json, stderr) = pair.instances();
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    let listed = json.as_array().unwrap();
    assert_eq!(listed.len(), 50);
    let unknown: Vec<&str> = listed
        .iter()
        .filter(|i| i["status"] == "unknown")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(unknown.len(), 10, "{unknown:?}");
    assert!(unknown.iter().all(|id| id.starts_with("down-")));
    assert!(listed
        .iter()
        .filter(|i| i["id"].as_str().unwrap().starts_with("ok-"))
        .all(|i| i["status"] == "running"));
    // One connect timeout (1 s) plus its 1 s margin, plus start-up: not 10 × the timeout.
    assert!(elapsed < Duration::from_millis(3_500), "took {elapsed:?}");
    drop(silent);
    pair.stop_replication().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_never_appears_in_output_log_or_journal() {
    let pair = Pair::new("inst_secret").await;
    pair.both("CREATE SEQUENCE s;").await;
    let password = common::test_password();
    let wrong = "Wr0ng-Pa55word-xyz";
    let mut seen = String::new();
    let mut run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = pair.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out.status.code()
    };
    let mut plan = pair.ad_hoc("plan", "5");
    plan.extend(["--format", "json"]);
    assert_eq!(run(&plan, &[]), Some(0));
    let mut sync = pair.ad_hoc("sync", "5");
    sync.push("--yes");
    assert_eq!(run(&sync, &[]), Some(0));
    let bad_destination = pair.destination_url.replacen(&password, wrong, 1);
    let failing = [
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        &bad_destination,
        "--offset",
        "5",
        "--yes",
    ];
    assert_eq!(run(&failing, &[]), Some(1));
    // password_env and a password in a key=value string, through the config and `instances`.
    let stripped = pair.source_url.replacen(&format!(":{password}@"), "@", 1);
    pair.write_config(&format!(
        "[[instances]]\nid = \"x\"\nstatus = \"running\"\nphase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{stripped}\", password_env = \"X_PW\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"host=127.0.0.1 port=1 user=postgres password={wrong}\" }}\n"
    ));
    assert_eq!(run(&["instances"], &[("X_PW", &password)]), Some(0));
    assert_eq!(
        run(&["instances", "--format", "json"], &[("X_PW", &password)]),
        Some(0)
    );
    assert_eq!(
        run(
            &["plan", "--instance", "x", "--offset", "1"],
            &[("X_PW", &password)]
        ),
        Some(1)
    );

    let log = std::fs::read_to_string(pair.log_file()).unwrap();
    let journal = std::fs::read_to_string(pair.journal()).unwrap();
    assert!(
        log.contains("password authentication failed"),
        "the log records failures: {log}"
    );
    assert!(seen.contains("****"), "URLs are shown masked: {seen}");
    for (what, text) in [("output", &seen), ("log", &log), ("journal", &journal)] {
        assert!(
            !text.contains(&password),
            "the password leaked into the {what}: {text}"
        );
        assert!(
            !text.contains(wrong),
            "the wrong password leaked into the {what}: {text}"
        );
    }
}
