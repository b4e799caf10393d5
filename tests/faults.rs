//! All or nothing under faults: each test lets the first batches be applied, makes a later batch
//! fail, checks mid-run that earlier sequences really had changed, and then that none kept it.

mod common;
use common::Pair;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const SEQUENCES: [&str; 6] = ["s1", "s2", "s3", "s4", "s5", "s6"];
const OFFSET: i64 = 1_000;

async fn scene(name: &str) -> (Pair, Vec<(String, i64, bool)>) {
    let pair = Pair::new(name).await;
    let create: String = SEQUENCES
        .iter()
        .map(|s| format!("CREATE SEQUENCE {s};"))
        .collect();
    pair.both(&create).await;
    let set: String = SEQUENCES
        .iter()
        .enumerate()
        .map(|(i, s)| format!("SELECT setval('{s}', {});", 100 * (i + 1)))
        .collect();
    pair.source().await.batch_execute(&set).await.unwrap();
    // Some history in the destination, so "restored" is distinguishable from "fresh".
    pair.destination()
        .await
        .batch_execute("SELECT setval('s1', 7); SELECT setval('s3', 9, false);")
        .await
        .unwrap();
    let original = pair.destination_states().await;
    (pair, original)
}

/// Starts `seqsync sync` with two sequences per batch, so s6 is in the third batch.
fn start_sync(pair: &Pair, lock_timeout: &str) -> tokio::process::Child {
    let offset = OFFSET.to_string();
    let mut args = pair.ad_hoc("sync", &offset);
    args.extend(["--yes", "--format", "json"]);
    let mut cmd = pair.command(&args);
    cmd.env("SEQSYNC_APPLY_BATCH", "2")
        .env("SEQSYNC_DEFAULTS__LOCK_TIMEOUT", lock_timeout)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .expect("spawning seqsync")
}

/// The pid of seqsync's destination backend once it waits for a lock.
async fn wait_for_lock_wait(observer: &Client, db: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = observer
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'seqsync' \
                 AND datname = $1 AND wait_event_type = 'Lock'",
                &[&db],
            )
            .await
            .unwrap();
        if let Some(r) = rows.first() {
            return r.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "seqsync never waited on the held lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn state_of(client: &Client, seq: &str) -> (i64, bool) {
    let r = client
        .query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// While seqsync waits on s6, s1 (first batch) already holds its target: there is something to
/// roll back.
async fn assert_first_batch_applied(observer: &Client) {
    assert_eq!(state_of(observer, "s1").await, (100 + OFFSET, false));
    assert_eq!(state_of(observer, "s4").await, (400 + OFFSET, false));
}

async fn finish(child: tokio::process::Child) -> (i32, serde_json::Value, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("seqsync finishes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout not JSON ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn last_journal_event(pair: &Pair) -> String {
    let text = std::fs::read_to_string(pair.journal()).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["event"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_timeout_in_a_later_batch_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_lock").await;
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 INCREMENT 1;")
        .await
        .unwrap();
    let child = start_sync(&pair, "3s");
    let observer = pair.destination().await;
    wait_for_lock_wait(&observer, &pair.name).await;
    assert_first_batch_applied(&observer).await;
    let (code, json, stderr) = finish(child).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("lock_timeout"), "{stderr}");
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_destination_backend_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_kill").await;
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 INCREMENT 1;")
        .await
        .unwrap();
    let child = start_sync(&pair, "30s");
    let observer = pair.destination().await;
    let pid = wait_for_lock_wait(&observer, &pair.name).await;
    assert_first_batch_applied(&observer).await;
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let (code, json, stderr) = finish(child).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("terminat") || stderr.contains("connection"),
        "{stderr}"
    );
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(pair.destination_states().await, original);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_lowered_during_the_apply_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_bound").await;
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 MAXVALUE 50;")
        .await
        .unwrap();
    let child = start_sync(&pair, "30s");
    let observer = pair.destination().await;
    wait_for_lock_wait(&observer, &pair.name).await;
    assert_first_batch_applied(&observer).await;
    holder.batch_execute("COMMIT").await.unwrap();
    let (code, json, stderr) = finish(child).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("outside its range 1..50"), "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(pair.destination_states().await, original);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_used_after_being_set_is_not_lowered_by_the_rollback() {
    let (pair, original) = scene("fault_used").await;
    let holder = pair.destination().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 INCREMENT 1;")
        .await
        .unwrap();
    let child = start_sync(&pair, "30s");
    let observer = pair.destination().await;
    let pid = wait_for_lock_wait(&observer, &pair.name).await;
    assert_first_batch_applied(&observer).await;
    // An application takes an id from the new value before the failure.
    let taken: i64 = observer
        .query_one("SELECT nextval('s2')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(taken, 200 + OFFSET);
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let (code, json, stderr) = finish(child).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("public.s2"), "{stderr}");
    assert_eq!(json["outcome"], "rollback-incomplete");
    let now = pair.destination_states().await;
    for (then, now) in original.iter().zip(&now) {
        if then.0 == "public.s2" {
            assert_eq!(
                (now.1, now.2),
                (200 + OFFSET, true),
                "s2 keeps the id it handed out"
            );
        } else {
            assert_eq!(then, now);
        }
    }
    assert_eq!(last_journal_event(&pair), "rollback-incomplete");
}
