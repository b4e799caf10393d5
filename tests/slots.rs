//! Status from the source's replication slot, for CDC tools that leave no subscription on the
//! destination (DTS, DMS, Debezium): PostgreSQL's own `pg_recvlogical` is the consumer here,
//! on a real logical slot of the source cluster.

mod common;
use common::{pg_bin, Pair};
use std::process::{Child, Command, Stdio};

const SLOT: &str = "seqsync_test_cdc";

fn config(pair: &Pair) -> String {
    format!(
        r#"
[[instances]]
id = "cdc"
slot = "{SLOT}"
phase = "incremental"
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    )
}

fn consume(pair: &Pair) -> Child {
    Command::new(pg_bin("pg_recvlogical"))
        .args([
            "--start",
            "--slot",
            SLOT,
            "--file",
            "/dev/null",
            "--no-loop",
        ])
        .args(["--dbname", &pair.source_url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pg_recvlogical")
}

fn plan(pair: &Pair) -> (i32, String) {
    let out = pair.run(&["plan", "--instance", "cdc", "--offset", "10"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cdc_slot_shows_running_paused_then_failed_and_the_gate_follows() {
    let pair = Pair::new("slot_cdc").await;
    pair.both("CREATE TABLE orders (id serial PRIMARY KEY, note text);")
        .await;
    let source = pair.source().await;
    source
        .batch_execute(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SLOT}'; \
             SELECT pg_create_logical_replication_slot('{SLOT}', 'test_decoding')"
        ))
        .await
        .unwrap();
    pair.write_config(&config(&pair));

    // Nobody reads the slot yet: the task is paused, which the gate allows.
    let paused = pair.wait_for("cdc", "paused", "incremental").await;
    assert!(
        paused["note"]
            .as_str()
            .unwrap()
            .contains("no consumer is reading it"),
        "{paused:#}"
    );
    assert_eq!(paused["synchronize_sequence"], true, "{paused:#}");

    let mut consumer = consume(&pair);
    let running = pair.wait_for("cdc", "running", "incremental").await;
    assert!(
        running["note"]
            .as_str()
            .unwrap()
            .contains("pg_recvlogical (pid"),
        "the consumer is named: {running:#}"
    );
    assert!(running["lag_bytes"].is_i64(), "{running:#}");
    source
        .batch_execute("INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 50)")
        .await
        .unwrap();
    assert_eq!(plan(&pair).0, 0, "a running task is planned");

    consumer.kill().unwrap();
    consumer.wait().unwrap();
    pair.wait_for("cdc", "paused", "incremental").await;
    let (code, stderr) = plan(&pair);
    assert_eq!(code, 0, "paused is allowed: {stderr}");

    source
        .batch_execute(&format!("SELECT pg_drop_replication_slot('{SLOT}')"))
        .await
        .unwrap();
    let failed = pair.wait_for("cdc", "failed", "incremental").await;
    assert_eq!(failed["synchronize_sequence"], false, "{failed:#}");
    let (code, stderr) = plan(&pair);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no replication slot named seqsync_test_cdc"),
        "the refusal says why: {stderr}"
    );
}
