//! Bad input gets a one-line error and the right exit code, and changes nothing.

mod common;
use common::Pair;

async fn scene(name: &str) -> (Pair, Vec<(String, i64, bool)>) {
    let pair = Pair::new(name).await;
    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a', 10); SELECT setval('b', 20);")
        .await
        .unwrap();
    let original = pair.destination_states().await;
    (pair, original)
}

/// Runs seqsync, expects `code` and a single stderr line containing `expected`.
fn expect_one_line(pair: &Pair, args: &[&str], code: i32, expected: &str) -> String {
    let out = pair.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected '{expected}' in: {stderr}"
    );
    assert!(!stderr.contains(&common::test_password()), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_offsets_are_refused_before_connecting() {
    let (pair, original) = scene("bad_offset").await;
    for (offset, expected) in [
        ("-5", "must not be negative"),
        ("ten", "non-negative whole number"),
        ("1.5", "non-negative whole number"),
        ("99999999999999999999", "too large"),
    ] {
        let mut args = pair.ad_hoc("sync", offset);
        args.push("--yes");
        expect_one_line(&pair, &args, 2, expected);
    }
    // An offset that parses but overflows one sequence is a row error, not a wrap.
    let max = i64::MAX.to_string();
    let mut args = pair.ad_hoc("sync", &max);
    args.extend(["--yes", "--format", "json"]);
    let out = pair.run(&args);
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["out-of-range"], 2);
    assert_eq!(pair.destination_states().await, original);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_silent_and_wrongly_authenticated_servers_fail_cleanly() {
    let (pair, original) = scene("bad_server").await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!("postgresql://postgres:pw@127.0.0.1:{closed_port}/db");
    let args = [
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        &refused,
        "--offset",
        "5",
        "--yes",
    ];
    let stderr = expect_one_line(
        &pair,
        &args,
        1,
        "cannot connect to postgresql://postgres:****@127.0.0.1",
    );
    // Each failure class says what to check next, as psql does.
    assert!(
        stderr.contains(&format!(
            "is the server running on host \"127.0.0.1\", port {closed_port} and accepting \
             TCP/IP connections?"
        )),
        "{stderr}"
    );

    // A server that accepts TCP and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!(
        "postgresql://postgres@127.0.0.1:{}/db",
        silent.local_addr().unwrap().port()
    );
    let args = [
        "plan",
        "--source",
        &silent_url,
        "--destination",
        &pair.destination_url,
        "--offset",
        "5",
    ];
    let started = std::time::Instant::now();
    let mut cmd = pair.command(&args);
    cmd.env("SEQSYNC_DEFAULTS__CONNECT_TIMEOUT", "1s");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no answer within 1s"), "{stderr}");
    assert!(
        stderr.contains("port")
            && stderr.contains("reachable from here (a firewall or security group)"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the connect timeout"
    );
    drop(silent);

    let wrong = pair
        .destination_url
        .replacen(&common::test_password(), "not-the-password", 1);
    let args = [
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        &wrong,
        "--offset",
        "5",
        "--yes",
    ];
    let stderr = expect_one_line(&pair, &args, 1, "password authentication failed");
    assert!(
        stderr.contains("check the user and its password"),
        "{stderr}"
    );

    // TLS asked of a server that does not offer it (the source cluster never turns ssl on;
    // tests/tls.rs turns it on for the destination).
    let no_tls = format!(
        "{}{}sslmode=require",
        pair.source_url,
        if pair.source_url.contains('?') {
            "&"
        } else {
            "?"
        }
    );
    let args = [
        "plan",
        "--source",
        &no_tls,
        "--destination",
        &pair.destination_url,
        "--offset",
        "5",
    ];
    let stderr = expect_one_line(&pair, &args, 1, "cannot connect to");
    assert!(
        stderr.contains("the server does not offer TLS: use sslmode=prefer"),
        "{stderr}"
    );

    // A host name that does not resolve (RFC 6761 reserves .invalid).
    let unresolvable = "postgresql://postgres:hidden-pw@no-such-host.invalid:5432/db";
    let args = [
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        unresolvable,
        "--offset",
        "5",
        "--yes",
    ];
    let stderr = expect_one_line(
        &pair,
        &args,
        1,
        "cannot connect to postgresql://postgres:****@no-such-host.invalid:5432/db",
    );
    assert!(stderr.contains("lookup"), "{stderr}");
    assert!(
        stderr
            .contains("the host name does not resolve (host \"no-such-host.invalid\", port 5432)"),
        "{stderr}"
    );
    assert!(!stderr.contains("hidden-pw"), "{stderr}");
    assert_eq!(pair.destination_states().await, original);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_pairs_bad_urls_and_missing_instances_are_usage_errors() {
    let (pair, original) = scene("bad_usage").await;
    let mut args = pair.ad_hoc("sync", "5");
    args.extend([
        "--yes",
        "--source-engine",
        "polardb-oracle",
        "--destination-engine",
        "postgresql",
    ]);
    expect_one_line(
        &pair,
        &args,
        2,
        "unsupported pair polardb-oracle → postgresql; supported pairs:",
    );
    let mut args = pair.ad_hoc("sync", "5");
    args.extend([
        "--yes",
        "--source-engine",
        "oracle",
        "--destination-engine",
        "postgresql",
    ]);
    expect_one_line(&pair, &args, 2, "unsupported pair oracle → postgresql");
    let mut args = pair.ad_hoc("sync", "5");
    args.extend(["--yes", "--destination-engine", "mysql"]);
    expect_one_line(&pair, &args, 2, "unknown engine 'mysql'");
    let args = [
        "sync",
        "--source",
        "postgresql://u@h:notaport/db",
        "--destination",
        &pair.destination_url,
        "--offset",
        "5",
        "--yes",
    ];
    expect_one_line(&pair, &args, 2, "invalid connection string");
    expect_one_line(
        &pair,
        &["sync", "--instance", "orders", "--offset", "5"],
        2,
        "no config file was found",
    );
    expect_one_line(&pair, &["sync", "--offset", "5"], 2, "--instance");
    assert_eq!(pair.destination_states().await, original);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_without_yes_and_without_a_terminal_refuses() {
    let (pair, original) = scene("bad_confirm").await;
    // setsid: no controlling terminal, as in cron or CI.
    let bin = env!("CARGO_BIN_EXE_seqsync");
    let mut args = vec![bin];
    args.extend(pair.ad_hoc("sync", "5"));
    let isolated = pair.command(&[]);
    let out = std::process::Command::new("setsid")
        .args(&args)
        .envs(
            isolated
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("SEQSYNC_CONFIG")
        .current_dir(&pair.dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(pair.destination_states().await, original);
}
