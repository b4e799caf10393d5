//! Helpers for tests against the real PostgreSQL clusters that `scripts/test` starts.
#![allow(dead_code)]

pub mod cutover;
pub mod dts;
pub mod tmux;
pub mod watching;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// The clusters' URLs. Missing variables fail the test: a database test never skips itself.
pub fn cluster_urls() -> (String, String) {
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run the tests with scripts/test, which starts PostgreSQL")
        })
    };
    (get("SEQSYNC_TEST_SOURCE"), get("SEQSYNC_TEST_DESTINATION"))
}

/// A live cutover on the test clusters, in database `t_<name>`: four writers, 100 inserts each
/// after the switch, seqsync journaling into a folder of its own.
pub fn cutover_on_test_clusters(
    name: &str,
    offset: cutover::OffsetChoice,
    guard: cutover::Guard,
    warm_up: Duration,
    after_sync: Duration,
) -> cutover::Cutover {
    let (source_admin, destination_admin) = cluster_urls();
    let dir = std::env::temp_dir().join(format!("seqsync-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cutover::Cutover {
        source_admin,
        destination_admin,
        database: format!("t_{name}"),
        seqsync: env!("CARGO_BIN_EXE_seqsync").to_string(),
        dir,
        writers: 4,
        offset,
        guard,
        warm_up,
        after_sync,
        inserts_after_switch: 100,
        extra_sequences: 0,
    }
}

/// A third cluster that tests may restart (never shared with tests that run beside them), and
/// its data directory.
pub fn restartable() -> (String, PathBuf) {
    let url = std::env::var("SEQSYNC_TEST_RESTARTABLE").unwrap_or_else(|_| {
        panic!("SEQSYNC_TEST_RESTARTABLE is not set: run the tests with scripts/test")
    });
    let root = std::env::var("SEQSYNC_TEST_ROOT").expect("SEQSYNC_TEST_ROOT set by scripts/test");
    (url, PathBuf::from(root).join("restartable/data"))
}

/// `pg_ctl restart` of a test cluster, as its owner (postgres when we are root). Fast mode: every
/// session is ended, as in a failover or an operator's restart.
pub fn restart_cluster(data_dir: &std::path::Path) {
    let mut cmd = as_cluster_owner(&pg_bin("pg_ctl"));
    let log = data_dir.parent().unwrap().join("server.log");
    let out = cmd
        .arg("-D")
        .arg(data_dir)
        .arg("-l")
        .arg(&log)
        .args(["-m", "fast", "-w", "-t", "60", "restart"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn test_password() -> String {
    std::env::var("SEQSYNC_TEST_PASSWORD").expect("SEQSYNC_TEST_PASSWORD set by scripts/test")
}

fn with_database(url: &str, db: &str) -> String {
    let base = url.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{db}")
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // A test statement that waits this long is stuck: fail rather than hang.
    client
        .batch_execute("SET statement_timeout = '60s'")
        .await
        .unwrap();
    client
}

/// A fresh database of the same name on both clusters, for one test.
pub struct Pair {
    pub name: String,
    pub source_url: String,
    pub destination_url: String,
    pub dir: PathBuf,
    /// The clusters' admin URLs, to drop the databases again.
    admins: (String, String),
}

impl Drop for Pair {
    /// A test that passed leaves nothing behind: its two databases (each a copy of template1,
    /// some with 50,000 sequences) and its folder. A full run kept gigabytes of them until its
    /// clusters were removed, and ran CI out of disk. A test that failed keeps them to be
    /// looked at.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let ((src, dst), db) = (self.admins.clone(), self.name.clone());
        // On a thread of its own: the test's runtime may be the one this runs on.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                drop_replication(&dst, &db).await;
                drop_replication(&src, &db).await;
                for url in [&src, &dst] {
                    drop_database(&connect(url).await, &db).await;
                }
            });
        })
        .join();
        if dropped.is_err() {
            panic!("dropping the test's databases {} failed", self.name);
        }
    }
}

impl Pair {
    pub async fn new(name: &str) -> Pair {
        let (src, dst) = cluster_urls();
        Pair::on(name, &src, &dst).await
    }

    /// A pair on the given clusters (admin URLs).
    pub async fn on(name: &str, src: &str, dst: &str) -> Pair {
        let (src, dst) = (src.to_string(), dst.to_string());
        let db = format!("t_{name}");
        // Subscriptions first (they live on the destination), then the slots they read from.
        drop_replication(&dst, &db).await;
        drop_replication(&src, &db).await;
        for url in [&src, &dst] {
            recreate_database(&connect(url).await, &db).await;
        }
        let dir = std::env::temp_dir().join(format!("seqsync-it-{db}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Pair {
            name: db.clone(),
            source_url: with_database(&src, &db),
            destination_url: with_database(&dst, &db),
            dir,
            admins: (src, dst),
        }
    }

    pub async fn source(&self) -> Client {
        connect(&self.source_url).await
    }

    pub async fn destination(&self) -> Client {
        connect(&self.destination_url).await
    }

    /// The same SQL on both sides.
    pub async fn both(&self, sql: &str) {
        self.source().await.batch_execute(sql).await.unwrap();
        self.destination().await.batch_execute(sql).await.unwrap();
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("seqsync.log")
    }

    /// libpq key=value for reaching `url`'s cluster and this pair's database from a server
    /// (CREATE SUBSCRIPTION).
    pub fn conninfo(&self, url: &str) -> String {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let port = config.get_ports()[0];
        let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();
        format!(
            "host=127.0.0.1 port={port} dbname={} user=postgres password={password}",
            self.name
        )
    }

    /// Real logical replication of `tables` (created on both sides by `ddl`) from the source to
    /// the destination, through subscription `sub_<db>`; returns the subscription's name.
    pub async fn replicate(&self, ddl: &str, tables: &str) -> String {
        self.both(ddl).await;
        let sub = format!("sub_{}", self.name);
        let publication = format!("pub_{}", self.name);
        let source = self.source().await;
        source
            .batch_execute(&format!(
                "CREATE PUBLICATION {publication} FOR TABLE {tables}"
            ))
            .await
            .unwrap();
        subscribe(
            &source,
            &self.destination().await,
            &sub,
            &publication,
            &self.conninfo(&self.source_url),
        )
        .await;
        sub
    }

    /// Removes this pair's subscriptions and slots: replication workers are a limited resource
    /// shared by every test on the clusters.
    pub async fn stop_replication(&self) {
        let (src, dst) = cluster_urls();
        drop_replication(&dst, &self.name).await;
        drop_replication(&src, &self.name).await;
    }

    /// Writes `seqsync.toml` in the test's folder (found as ./seqsync.toml) and returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let path = self.dir.join("seqsync.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// `seqsync instances --format json`: its `instances` list, with the exit code. Without
    /// DTS nothing can go unanswered, so `unanswered` is checked to be empty.
    pub fn instances(&self) -> (i32, serde_json::Value, String) {
        let out = self.run(&["instances", "--format", "json"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        if json.is_object() {
            assert_eq!(json["unanswered"], serde_json::json!([]), "{stderr}");
        }
        let code = out.status.code().unwrap_or(-1);
        (code, json["instances"].clone(), stderr)
    }

    /// Polls `seqsync instances` until instance `id` shows `status` and `phase`.
    pub async fn wait_for(&self, id: &str, status: &str, phase: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (_, json, stderr) = self.instances();
            let found = json
                .as_array()
                .and_then(|a| a.iter().find(|i| i["id"] == id))
                .cloned();
            if let Some(i) = &found {
                if i["status"] == status && i["phase"] == phase {
                    return i.clone();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never reached {status}/{phase}: {found:?} {stderr}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// The seqsync binary, isolated from any user config, journaling into the test's folder.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_seqsync"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("SEQSYNC_CONFIG")
            .env_remove("PGPASSWORD")
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("SEQSYNC_JOURNAL", self.journal())
            .env("SEQSYNC_LOG", self.log_file())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// A shell command that opens the TUI on `config` in this test's folder (with `extra_env`,
    /// `NAME=value …`, in its environment), then runs `after` in the same shell.
    #[allow(dead_code)] // only the tmux tests open the TUI
    pub fn tui_command(&self, config: &std::path::Path, extra_env: &str, after: &str) -> String {
        format!(
            "cd '{dir}' && env HOME='{dir}' SEQSYNC_JOURNAL='{journal}' SEQSYNC_LOG='{log}' {extra_env} '{bin}' --config '{config}'; {after}",
            dir = self.dir.display(),
            journal = self.journal().display(),
            log = self.log_file().display(),
            bin = env!("CARGO_BIN_EXE_seqsync"),
            config = config.display(),
        )
    }

    pub fn ad_hoc<'a>(&'a self, verb: &'a str, offset: &'a str) -> Vec<&'a str> {
        vec![
            verb,
            "--source",
            &self.source_url,
            "--destination",
            &self.destination_url,
            "--offset",
            offset,
        ]
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running seqsync")
    }

    /// Runs `seqsync <args> --format json` and parses stdout.
    pub fn run_json(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.code().unwrap_or(-1), json, stderr)
    }

    /// `seqsync undo RUN_ID --yes` on this pair's destination; panics unless it exits 0.
    #[allow(dead_code)] // not every test undoes
    pub fn undo(&self, run_id: &str) -> Output {
        let out = self.run(&[
            "undo",
            run_id,
            "--destination",
            &self.destination_url,
            "--yes",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "undo {run_id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Exact (last_value, is_called) of every user sequence in the destination, by name.
    pub async fn destination_states(&self) -> Vec<(String, i64, bool)> {
        states(&self.destination().await).await
    }
}

/// Reads each sequence relation directly (one statement per sequence keeps the lock count low).
pub async fn states(client: &Client) -> Vec<(String, i64, bool)> {
    let names = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let mut out = vec![];
    for row in names {
        let name: String = row.get(0);
        let r = client
            .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .unwrap();
        out.push((name, r.get(0), r.get(1)));
    }
    out
}

pub fn rows(json: &serde_json::Value) -> &Vec<serde_json::Value> {
    json["rows"].as_array().expect("rows array")
}

pub fn row<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    rows(json)
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {json:#}"))
}

/// The server's `server_version_num`, e.g. 180001.
pub async fn server_version(client: &Client) -> i32 {
    client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0)
}

/// Drops `db`, ending its sessions (`WITH (FORCE)` exists from PostgreSQL 13).
pub async fn drop_database(admin: &Client, db: &str) {
    let version = server_version(admin).await;
    let drop = if version >= 130_000 {
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    } else {
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .await
            .unwrap();
        format!("DROP DATABASE IF EXISTS {db}")
    };
    admin.batch_execute(&drop).await.unwrap();
}

/// Drops `db` and creates it empty.
pub async fn recreate_database(admin: &Client, db: &str) {
    drop_database(admin, db).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
}

/// `CREATE SUBSCRIPTION sub` on `subscriber` to `publication` on `publisher` (reached through
/// `conninfo`), its slot created on the publisher first. `CREATE SUBSCRIPTION` creating the slot
/// itself holds a transaction id on the subscriber while the publisher builds the slot's
/// snapshot, which waits for every transaction with an id there: two tests subscribing in
/// opposite directions between the same two clusters at the same moment (17 → 18 and 18 → 17)
/// waited for each other until the statement timeout.
pub async fn subscribe(
    publisher: &Client,
    subscriber: &Client,
    sub: &str,
    publication: &str,
    conninfo: &str,
) {
    publisher
        .batch_execute(&format!(
            "SELECT pg_create_logical_replication_slot('{sub}', 'pgoutput')"
        ))
        .await
        .unwrap();
    subscriber
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION {sub} CONNECTION '{conninfo}' PUBLICATION {publication} \
             WITH (create_slot = false, slot_name = '{sub}')"
        ))
        .await
        .unwrap();
}

/// Drops the subscriptions and replication slots a previous run left in `db`, so that the
/// database can be dropped.
pub async fn drop_replication(admin_url: &str, db: &str) {
    let admin = connect(admin_url).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
        .await
        .unwrap()
        .is_some();
    if !exists {
        return;
    }
    let client = connect(&with_database(admin_url, db)).await;
    let subs = client
        .query(
            "SELECT subname::text FROM pg_subscription WHERE subdbid = \
             (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap();
    for sub in subs {
        let name: String = sub.get(0);
        client
            .batch_execute(&format!(
                "ALTER SUBSCRIPTION {name} DISABLE; ALTER SUBSCRIPTION {name} SET (slot_name = NONE); DROP SUBSCRIPTION {name}"
            ))
            .await
            .unwrap();
    }
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '{db}' AND active_pid IS NOT NULL"
        ))
        .await
        .unwrap();
    for _ in 0..50 {
        let dropped = admin
            .batch_execute(&format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{db}'"
            ))
            .await;
        if dropped.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A hot standby of a test cluster (pg_basebackup -R), on its own port; stopped and removed
/// when dropped.
pub struct Standby {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

pub fn pg_bin(tool: &str) -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries")
        .flatten()
        .map(|v| v.path().join("bin").join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{tool} not found"))
}

fn as_cluster_owner(program: &std::path::Path) -> std::process::Command {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

impl Standby {
    pub fn of(primary_url: &str) -> Standby {
        let config: tokio_postgres::Config = primary_url.parse().unwrap();
        let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();
        let root = std::env::var("SEQSYNC_TEST_ROOT").expect("SEQSYNC_TEST_ROOT");
        let dir = PathBuf::from(root).join(format!("standby-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::process::Command::new("chown")
            .args(["postgres"])
            .arg(&dir)
            .status();
        let data = dir.join("data");
        let out = as_cluster_owner(&pg_bin("pg_basebackup"))
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres password={password}",
                config.get_ports()[0]
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let settings = format!(
            "\nport = {port}\nunix_socket_directories = '{}'\nhot_standby = on\n",
            dir.display()
        );
        let conf = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
        let bin = pg_bin("pg_ctl");
        let out = as_cluster_owner(&bin)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "standby start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Standby { port, dir, bin }
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = as_cluster_owner(&self.bin)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The session holding seqsync's applier lock on `db`: (pid, application_name).
pub async fn lock_holder(observer: &tokio_postgres::Client, db: &str) -> Option<(i32, String)> {
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

/// The pid of a seqsync backend in `db` (on `observer`'s cluster) once it waits for a lock.
pub async fn wait_for_lock_wait(observer: &Client, db: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = observer
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'seqsync/%' \
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

/// Journals a run on `pair`'s destination that was killed after the batch holding `set` was
/// locked and set: its intent for every one of `names` (each planned from a never-called
/// sequence, next value 1, to 1,001), and `set`'s exact state under the lock. The caller puts
/// `set` at its target in the database (`setval(set, 1000, true)`). Returns the run id.
#[allow(dead_code)] // not every test file that includes this module kills a run
pub fn journal_killed_run(pair: &Pair, instance: &str, names: &[&str], set: &str) -> String {
    use seqsync::engine::journal::{new_run_id, Journal, JournalEvent, RunContext};
    use seqsync::engine::model::{Locked, PlanRow, RawState, RowStatus};
    let destination = seqsync::engine::postgres::PgEndpoint::new(&pair.destination_url, None)
        .expect("the test's destination URL");
    let context = RunContext {
        run_id: new_run_id(),
        instance: instance.into(),
        source: "source".into(),
        destination: destination.display.clone(),
        offset: 1_000,
        allow_lower: false,
        undo_of: None,
        margin: None,
        backend: None,
        selection: Default::default(),
    };
    let rows: Vec<PlanRow> = names
        .iter()
        .map(|name| PlanRow {
            schema: "public".into(),
            name: (*name).into(),
            source_value: Some(1),
            destination_before: Some(1),
            target: Some(1_001),
            destination_after: None,
            status: RowStatus::Update,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        })
        .collect();
    let journal = Journal::new(pair.journal());
    journal
        .append(&context.entry(JournalEvent::ApplyStarted, &rows, ""))
        .unwrap();
    let mut locked = context.entry(JournalEvent::BatchLocked, &[], "");
    locked.locked = vec![Locked {
        schema: "public".into(),
        name: set.into(),
        state: RawState {
            last_value: 1,
            is_called: false,
        },
        // Read exactly, as PostgreSQL 18 does, not by the run's own nextval().
        by_nextval: false,
    }];
    journal.append(&locked).unwrap();
    context.run_id
}
