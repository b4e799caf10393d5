//! All or nothing under faults: each test lets the first batches be applied, makes a later batch
//! fail, checks mid-run that earlier sequences really had changed, and then that none kept it.

mod common;
use common::Pair;
use std::time::Duration;
use tokio_postgres::Client;

const SEQUENCES: [&str; 6] = ["s1", "s2", "s3", "s4", "s5", "s6"];
const OFFSET: i64 = 1_000;

async fn scene(name: &str) -> (Pair, Vec<(String, i64, bool)>) {
    let (src, dst) = common::cluster_urls();
    scene_on(name, &src, &dst).await
}

async fn scene_on(name: &str, src: &str, dst: &str) -> (Pair, Vec<(String, i64, bool)>) {
    let pair = Pair::on(name, src, dst).await;
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

/// A `seqsync sync` that has planned and waits at its confirmation prompt, on a pseudo-terminal
/// (`script`), as an operator reviewing the preview would. Two sequences per batch, so s6 is in
/// the third batch.
struct Prompted {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    output: tokio::task::JoinHandle<String>,
}

async fn start_sync(pair: &Pair, timeouts: &[(&str, &str)]) -> Prompted {
    use tokio::io::AsyncReadExt;
    let offset = OFFSET.to_string();
    let mut args = vec![env!("CARGO_BIN_EXE_seqsync").to_string()];
    args.extend(pair.ad_hoc("sync", &offset).into_iter().map(String::from));
    let shell_line = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let isolated = pair.command(&[]);
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-qfec", &shell_line, "/dev/null"])
        .envs(
            isolated
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("SEQSYNC_APPLY_BATCH", "2")
        .envs(timeouts.iter().copied())
        .current_dir(&pair.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawning seqsync under script");
    let stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (prompted_tx, prompted_rx) = tokio::sync::oneshot::channel();
    let output = tokio::spawn(async move {
        let mut text = String::new();
        let mut prompted = Some(prompted_tx);
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.contains("Type 'yes'") {
                if let Some(tx) = prompted.take() {
                    let _ = tx.send(());
                }
            }
        }
        text
    });
    tokio::time::timeout(Duration::from_secs(30), prompted_rx)
        .await
        .expect("seqsync asks for confirmation")
        .expect("seqsync asks for confirmation");
    Prompted {
        child,
        stdin,
        output,
    }
}

impl Prompted {
    async fn confirm(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(b"yes\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Exit code and everything the terminal showed.
    async fn finish(self) -> (i32, String) {
        let status = tokio::time::timeout(Duration::from_secs(60), async {
            let mut child = self.child;
            child.wait().await
        })
        .await
        .expect("seqsync finishes")
        .unwrap();
        let text = self.output.await.unwrap();
        (status.code().unwrap_or(-1), text)
    }
}

/// While seqsync waits on s6, s1 (first batch) already holds its target: there is something to
/// roll back.
async fn assert_first_batch_applied(observer: &Client) {
    for (seq, source_value) in [("s1", 100), ("s4", 400)] {
        let next: i64 = observer
            .query_one(
                &format!(
                    "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {seq}"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            next,
            source_value + OFFSET,
            "{seq} was set before the failure"
        );
    }
}

fn last_journal_event(pair: &Pair) -> String {
    let text = std::fs::read_to_string(pair.journal()).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["event"].as_str().unwrap().to_string()
}

/// A sync confirmed and applying, its third batch waiting on a lock `holder` took with
/// `holder_sql` (and still holds), its first batches already applied.
struct Stalled {
    sync: Prompted,
    holder: Client,
    observer: Client,
    /// seqsync's destination backend.
    pid: i32,
}

async fn stall_third_batch(pair: &Pair, holder_sql: &str, lock_timeout: &str) -> Stalled {
    stall_third_batch_with(
        pair,
        holder_sql,
        &[("SEQSYNC_DEFAULTS__LOCK_TIMEOUT", lock_timeout)],
    )
    .await
}

async fn stall_third_batch_with(
    pair: &Pair,
    holder_sql: &str,
    timeouts: &[(&str, &str)],
) -> Stalled {
    let mut sync = start_sync(pair, timeouts).await;
    let holder = pair.destination().await;
    holder.batch_execute(holder_sql).await.unwrap();
    sync.confirm().await;
    let observer = pair.destination().await;
    let pid = common::wait_for_lock_wait(&observer, &pair.name).await;
    assert_first_batch_applied(&observer).await;
    Stalled {
        sync,
        holder,
        observer,
        pid,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_timeout_in_a_later_batch_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_lock").await;
    let Stalled {
        sync,
        holder,
        observer: _,
        pid: _,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;", "3s").await;
    let (code, shown) = sync.finish().await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("lock_timeout (3s)"), "{shown}");
    assert!(shown.contains("nothing was applied"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_destination_backend_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_kill").await;
    let Stalled {
        sync,
        holder,
        observer,
        pid,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;", "30s").await;
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let (code, shown) = sync.finish().await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("terminat"), "{shown}");
    assert!(shown.contains("nothing was applied"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_lowered_during_the_apply_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_bound").await;
    let Stalled {
        sync,
        holder,
        observer: _,
        pid: _,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 MAXVALUE 50;", "30s").await;
    holder.batch_execute("COMMIT").await.unwrap();
    let (code, shown) = sync.finish().await;
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("outside its range 1..50"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_renamed_during_the_apply_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_rename").await;
    let Stalled {
        sync,
        holder,
        observer: _,
        pid: _,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 RENAME TO s6_moved;", "30s").await;
    holder
        .batch_execute("COMMIT; ALTER SEQUENCE s6_moved RENAME TO s6;")
        .await
        .unwrap();
    let (code, shown) = sync.finish().await;
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("renamed to public.s6_moved"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_used_after_being_set_is_not_lowered_by_the_rollback() {
    let (pair, original) = scene("fault_used").await;
    let Stalled {
        sync,
        holder,
        observer,
        pid,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;", "30s").await;
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
    let (code, shown) = sync.finish().await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 4, "{shown}");
    assert!(shown.contains("public.s2"), "{shown}");
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

/// SIGKILLs the seqsync process (not the `script` around it) that works on this pair.
fn kill_seqsync(pair: &Pair) {
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        if comm.trim_end() == "seqsync" && String::from_utf8_lossy(&cmdline).contains(&pair.name) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap();
            assert!(status.success());
            killed += 1;
        }
    }
    assert_eq!(killed, 1, "exactly one seqsync works on {}", pair.name);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_part_way_is_settled_to_nothing_applied_by_the_next_start() {
    let (pair, original) = scene("fault_sigkill").await;
    let Stalled {
        sync,
        holder,
        observer,
        pid,
    } = stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;", "30s").await;
    kill_seqsync(&pair);
    let (_, shown) = sync.finish().await;
    assert!(
        !shown.contains("rolled"),
        "a killed process rolls nothing back: {shown}"
    );
    assert_eq!(
        last_journal_event(&pair),
        "batch-locked",
        "killed with two batches set"
    );
    assert_ne!(
        pair.destination_states().await,
        original,
        "the kill left the first batches applied"
    );
    // The killed run's server process outlives its client, waiting on the held lock: settling
    // must not read before it is gone. The holder lets go only after settling has begun.
    assert_eq!(common::wait_for_lock_wait(&observer, &pair.name).await, pid);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        holder.batch_execute("ROLLBACK").await.unwrap();
    });
    let recover = pair.command(&["recover", "--destination", &pair.destination_url]);
    let out = tokio::task::spawn_blocking(move || {
        let mut recover = recover;
        recover.output().unwrap()
    })
    .await
    .unwrap();
    release.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("was not applied: it was killed part-way, after setting 4 of 6 sequence(s), and seqsync restored them"),
        "{stderr}"
    );
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "recovered");
    let again = pair.run(&["recover", "--destination", &pair.destination_url]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no interrupted run"),
        "a settled run is settled once"
    );
}

/// Before PostgreSQL 18 a sequence never called is read with `nextval()`, which changes it: the
/// batch is journaled before that, so a run killed while `nextval()` runs is settled back to
/// never called, as if nothing had been applied.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_while_nextval_reads_never_called_sequences_is_settled_to_nothing_applied() {
    let (src, dst) = common::cluster_urls();
    let pair = Pair::on("fault_nextval_kill", &src, &dst).await;
    let observer = pair.destination().await;
    assert!(
        common::server_version(&observer).await < 180_000,
        "this test needs a server that reads by nextval()"
    );
    // One batch of 2,000 never-called sequences: nextval() over all of them takes long enough
    // for the kill to land while it runs.
    pair.both(
        "DO $$ BEGIN FOR i IN 1..2000 LOOP \
         EXECUTE format('CREATE SEQUENCE n%s', lpad(i::text, 4, '0')); END LOOP; END $$",
    )
    .await;
    pair.source()
        .await
        .batch_execute(
            "SELECT count(setval(format('n%s', lpad(i::text, 4, '0'))::regclass, i * 3)) \
             FROM generate_series(1, 2000) i",
        )
        .await
        .unwrap();
    let original = pair.destination_states().await;
    assert!(original.iter().all(|(_, _, called)| !called));
    let offset = OFFSET.to_string();
    let mut args = pair.ad_hoc("sync", &offset);
    args.push("--yes");
    let mut sync = tokio::process::Command::from(pair.command(&args))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first of the batch is called as soon as nextval() has read it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let read: Option<i64> = observer
            .query_one("SELECT pg_sequence_last_value('n0001')", &[])
            .await
            .unwrap()
            .get(0);
        if read.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "nextval() never ran");
    }
    sync.start_kill().unwrap();
    sync.wait().await.unwrap();
    let out = pair.run(&["recover", "--destination", &pair.destination_url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("was not applied"), "{stderr}");
    // Killed inside nextval() (the kill lands there but on a very slow machine, where the batch
    // may have been set and is restored instead): it says how many it put back, which depends
    // on how far the server had gone when it noticed its client was gone.
    if !stderr.contains("after setting") {
        let put_back: usize = stderr
            .split("killed before any target took hold, and seqsync put ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!((1..=2000).contains(&put_back), "{stderr}");
        assert!(
            stderr.contains("never-called sequence(s) its nextval() had read back to never called"),
            "{stderr}"
        );
    }
    assert_eq!(last_journal_event(&pair), "recovered");
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_in_a_later_batch_leaves_no_sequence_changed() {
    let (pair, original) = scene("fault_statement").await;
    let Stalled { sync, holder, .. } = stall_third_batch_with(
        &pair,
        "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;",
        &[
            ("SEQSYNC_DEFAULTS__LOCK_TIMEOUT", "30s"),
            ("SEQSYNC_DEFAULTS__STATEMENT_TIMEOUT", "2s"),
        ],
    )
    .await;
    let (code, shown) = sync.finish().await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("statement_timeout (2s) reached"), "{shown}");
    assert!(shown.contains("nothing was applied"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_destination_is_refused_before_anything_changes() {
    let (pair, original) = scene("fault_read_only").await;
    let (_, dst) = common::cluster_urls();
    common::connect(&dst)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            pair.name
        ))
        .await
        .unwrap();
    let mut args = pair.ad_hoc("sync", "1000");
    args.push("--yes");
    let out = pair.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is read-only for this session (default_transaction_read_only is on)"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert_eq!(pair.destination_states().await, original);
    let journal = std::fs::read_to_string(pair.journal()).unwrap_or_default();
    assert!(
        !journal.contains("apply-started"),
        "refused before the intent is written: {journal}"
    );
    // Reading still works: the plan is shown.
    let out = pair.run(&pair.ad_hoc("plan", "1000"));
    assert_eq!(out.status.code(), Some(0));
}

/// These use the one cluster that no other test shares (it is restarted, and copied for a
/// standby), one after the other.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_restarted_mid_apply_or_mid_read_or_a_standby_leaves_nothing_applied() {
    let (src, dst) = common::cluster_urls();
    let (restartable, data_dir) = common::restartable();
    a_hot_standby_destination_is_refused_before_anything_changes(&src, &restartable).await;

    // The destination restarts while the third batch waits: the rollback waits for it to come
    // back and restores the first two batches.
    let (pair, original) = scene_on("fault_restart_dst", &src, &restartable).await;
    let Stalled { sync, holder, .. } =
        stall_third_batch(&pair, "BEGIN; ALTER SEQUENCE s6 INCREMENT 1;", "30s").await;
    let dir = data_dir.clone();
    tokio::task::spawn_blocking(move || common::restart_cluster(&dir))
        .await
        .unwrap();
    drop(holder);
    let (code, shown) = sync.finish().await;
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("nothing was applied"), "{shown}");
    assert_eq!(pair.destination_states().await, original);
    assert_eq!(last_journal_event(&pair), "rolled-back");

    // The source restarts while seqsync reads it: nothing reaches the destination.
    let (pair, original) = scene_on("fault_restart_src", &restartable, &dst).await;
    let holder = pair.source().await;
    holder
        .batch_execute("BEGIN; ALTER SEQUENCE s6 INCREMENT 1;")
        .await
        .unwrap();
    let mut sync = pair.command(&pair.ad_hoc("sync", "1000"));
    sync.arg("--yes");
    let running = tokio::task::spawn_blocking(move || sync.output().unwrap());
    let observer = pair.source().await;
    common::wait_for_lock_wait(&observer, &pair.name).await;
    drop(observer);
    tokio::task::spawn_blocking(move || common::restart_cluster(&data_dir))
        .await
        .unwrap();
    drop(holder);
    let out = running.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("source:"), "{stderr}");
    assert!(
        stderr.contains("the server ended the session") || stderr.contains("connection was lost"),
        "{stderr}"
    );
    assert_eq!(pair.destination_states().await, original);
}

/// A hot standby of `primary` (an admin URL) as the destination: the plan reads it, the sync is
/// refused before its intent is journaled.
async fn a_hot_standby_destination_is_refused_before_anything_changes(src: &str, primary: &str) {
    let (pair, _) = scene_on("fault_standby", src, primary).await;
    // An unlogged sequence: a standby has no value for it.
    pair.both("CREATE UNLOGGED SEQUENCE u; SELECT setval('u', 42);")
        .await;
    let standby = common::Standby::of(primary);
    let primary_port = {
        let config: tokio_postgres::Config = pair.destination_url.parse().unwrap();
        config.get_ports()[0]
    };
    let standby_url = pair.destination_url.replacen(
        &format!(":{primary_port}/"),
        &format!(":{}/", standby.port),
        1,
    );
    // Read from the standby as a source, the unlogged sequence says why it has no value.
    let (code, json, stderr) = pair.run_json(&[
        "plan",
        "--source",
        &standby_url,
        "--destination",
        &pair.destination_url,
        "--offset",
        "1000",
    ]);
    assert_eq!(code, 3, "{stderr}");
    let u = common::row(&json, "u");
    assert_eq!(u["status"], "unavailable", "{u}");
    let message = u["message"].as_str().unwrap();
    assert!(
        message.contains("unlogged, and this server is a standby"),
        "{message}"
    );
    assert!(
        message.contains("unlogged in the source and the destination"),
        "{message}"
    );
    assert_eq!(common::row(&json, "s1")["status"], "update");
    // Reading works on a standby: the plan is shown (exit 3: `u` has no value there).
    let plan = pair.run(&[
        "plan",
        "--source",
        &pair.source_url,
        "--destination",
        &standby_url,
        "--offset",
        "1000",
    ]);
    assert_eq!(
        plan.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let out = pair.run(&[
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        &standby_url,
        "--offset",
        "1000",
        "--yes",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is a hot standby (in recovery) and cannot take changes: connect to the primary; nothing was applied"),
        "{stderr}"
    );
    let journal = std::fs::read_to_string(pair.journal()).unwrap_or_default();
    assert!(!journal.contains("apply-started"), "{journal}");
}
