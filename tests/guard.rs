//! The guard (`seqsync watch --all`) as a service: a real Prometheus (Debian's package)
//! scraping it while it guards instances with live logical replication and writers, the
//! shipped alert rules under promtool, two replicas with one active, and bad input.

mod common;
use common::{connect, Pair};
use std::io::BufRead;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A tool the test command installs; in CI its absence is a failure, never a skip.
fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is missing: scripts/test installs Debian's prometheus package"
    );
    String::from_utf8(found.stdout).unwrap().trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `seqsync watch --all --log-format json …` running, its events arriving on a channel.
struct Guard {
    child: Child,
    events: Receiver<serde_json::Value>,
    metrics: String,
}

impl Guard {
    fn start(pair: &Pair, config: &std::path::Path, journal: &str, extra: &[&str]) -> Guard {
        let port = free_port();
        let metrics = format!("127.0.0.1:{port}");
        let mut command = pair.command(&["--config", config.to_str().unwrap(), "watch", "--all"]);
        command
            .args(["--log-format", "json", "--metrics-listen", &metrics])
            .args(extra)
            .env("SEQSYNC_JOURNAL", pair.dir.join(journal))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        Guard {
            child,
            events,
            metrics,
        }
    }

    /// Waits for the next `n` rounds of any instance, each within 30 s.
    fn rounds(&self, n: usize) {
        for _ in 0..n {
            self.wait(Duration::from_secs(30), "a round", |e| {
                e["event"] == "round"
            });
        }
    }

    /// The next event that `wanted` accepts, within `limit`.
    fn wait(
        &self,
        limit: Duration,
        what: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let mut skipped = std::collections::VecDeque::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if wanted(&v) => return v,
                Ok(v) => {
                    skipped.push_back(v);
                    if skipped.len() > 8 {
                        skipped.pop_front();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {limit:?}; the last events: {skipped:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the guard ended before {what}; the last events: {skipped:?}")
                }
            }
        }
    }

    fn scrape(&self, path: &str) -> (u16, String) {
        http_get(&self.metrics, path)
    }

    fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when the test ends, passed or not (a Prometheus left running would
/// outlive the run).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP GET on loopback: the status code and the body.
fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_string())
}

/// The value of the first series of `name` whose labels contain `label`.
fn sample(exposition: &str, name: &str, label: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn instance_entry(id: &str, pair: &Pair, subscription: &str, offset: i64) -> String {
    format!(
        "[[instances]]\nid = \"{id}\"\nkind = \"synchronization\"\nsubscription = \"{subscription}\"\n\
         offset = {offset}\n\
         source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.source_url, pair.destination_url
    )
}

/// Inserts into `t` on the source every few milliseconds until dropped.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    async fn start(pair: &Pair) -> Writer {
        let client = pair.source().await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                client
                    .batch_execute("INSERT INTO t (v) SELECT 1 FROM generate_series(1, 20)")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Writer { stop, task }
    }

    async fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.unwrap();
    }
}

#[test]
fn the_shipped_alert_rules_pass_promtool_unit_tests() {
    let promtool = tool("promtool");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prometheus");
    for args in [
        vec!["check", "rules", "seqsync-alerts.yml"],
        vec!["test", "rules", "seqsync-alerts.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&rules)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_three_guarded_instances_and_sees_them_move() {
    let ddl = "CREATE TABLE t (id serial PRIMARY KEY, v int)";
    let pairs = [
        Pair::new("guard_a").await,
        Pair::new("guard_b").await,
        Pair::new("guard_c").await,
    ];
    let sub_a = pairs[0].replicate(ddl, "t").await;
    let sub_b = pairs[1].replicate(ddl, "t").await;
    // The third's subscription is created while the guard runs.
    pairs[2].both(ddl).await;
    let sub_c = format!("sub_{}", pairs[2].name);
    let config = pairs[0].write_config(&format!(
        "{}{}{}",
        instance_entry("a", &pairs[0], &sub_a, 1000),
        instance_entry("b", &pairs[1], &sub_b, 2000),
        instance_entry("c", &pairs[2], &sub_c, 3000),
    ));
    let writers = [
        Writer::start(&pairs[0]).await,
        Writer::start(&pairs[1]).await,
    ];
    let guard = Guard::start(
        &pairs[0],
        &config,
        "guard.jsonl",
        &["--offset", "500", "--interval", "300ms"],
    );
    // In whatever order they come: rounds of a and b, and c not guarded (no subscription).
    let (mut round_a, mut round_b, mut idle) = (false, false, None);
    while !(round_a && round_b && idle.is_some()) {
        let e = guard.wait(Duration::from_secs(30), "rounds of a and b, c idle", |_| {
            true
        });
        round_a |= e["event"] == "round" && e["instance"] == "a";
        round_b |= e["event"] == "round" && e["instance"] == "b";
        if e["event"] == "not-guarded" && e["instance"] == "c" {
            idle = Some(e);
        }
    }
    let idle = idle.unwrap();
    assert!(idle["reason"].as_str().unwrap().contains(&sub_c), "{idle}");

    // A real Prometheus scrapes it every second.
    let prometheus = tool("prometheus");
    let web = format!("127.0.0.1:{}", free_port());
    let dir = pairs[0].dir.join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: seqsync\n    static_configs:\n      - targets: ['{}']\n",
            guard.metrics
        ),
    )
    .unwrap();
    let server = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = |q: &str| -> serde_json::Value {
        // Only metric names are asked: nothing to escape.
        let path = format!("/api/v1/query?query={q}");
        let (code, body) = http_get(&web, &path);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let by_instance = |q: &str| -> Vec<(String, f64)> {
        let answer = query(q);
        let mut found: Vec<(String, f64)> = answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"]["instance_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        found.sort_by(|x, y| x.0.cmp(&y.0));
        found
    };
    let ready = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(&web).is_ok()
            && by_instance("seqsync_rounds_total").len() == 3
        {
            break;
        }
        assert!(Instant::now() < ready, "Prometheus never scraped the guard");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first = by_instance("seqsync_rounds_total");
    let headroom = by_instance("seqsync_headroom_ids");
    assert_eq!(
        headroom.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "c is not guarded yet"
    );
    // Each instance's own offset: a's 1000 and b's 2000, less what was written since a round.
    assert!(
        headroom[0].1 > 0.0 && headroom[0].1 <= 1000.0,
        "{headroom:?}"
    );
    assert!(
        headroom[1].1 > 1000.0 && headroom[1].1 <= 2000.0,
        "{headroom:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = by_instance("seqsync_rounds_total");
    for (before, after) in first.iter().zip(&later) {
        if before.0 != "c" {
            assert!(after.1 > before.1, "rounds move: {first:?} then {later:?}");
        }
    }
    let set = by_instance("seqsync_ids_applied_total");
    assert!(
        set.iter().filter(|s| s.0 != "c").all(|s| s.1 > 0.0),
        "the writes were followed: {set:?}"
    );

    // promtool reads the exposition as Prometheus's own linter.
    let (code, exposition) = guard.scrape("/metrics");
    assert_eq!(code, 200);
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), exposition.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(guard.scrape("/healthz").0, 200);
    assert_eq!(
        guard.scrape("/readyz").0,
        200,
        "{}",
        guard.scrape("/readyz").1
    );

    // A subscription created now is guarded without a restart; one dropped stops being
    // guarded, and the process keeps running.
    pairs[2]
        .source()
        .await
        .batch_execute(&format!(
            "CREATE PUBLICATION pub_{} FOR TABLE t",
            pairs[2].name
        ))
        .await
        .unwrap();
    common::subscribe(
        &pairs[2].source().await,
        &pairs[2].destination().await,
        &sub_c,
        &format!("pub_{}", pairs[2].name),
        &pairs[2].conninfo(&pairs[2].source_url),
    )
    .await;
    guard.wait(Duration::from_secs(30), "a round of c", |e| {
        e["event"] == "round" && e["instance"] == "c"
    });
    pairs[1]
        .destination()
        .await
        .batch_execute(&format!(
            "ALTER SUBSCRIPTION {sub_b} DISABLE; ALTER SUBSCRIPTION {sub_b} SET (slot_name = NONE); DROP SUBSCRIPTION {sub_b}"
        ))
        .await
        .unwrap();
    guard.wait(Duration::from_secs(30), "b no longer guarded", |e| {
        e["event"] == "not-guarded" && e["instance"] == "b"
    });
    let after_drop = guard.wait(Duration::from_secs(30), "rounds of a go on", |e| {
        e["event"] == "round" && e["instance"] == "a"
    });
    assert!(after_drop["applied"].is_number(), "{after_drop}");
    let (_, exposition) = guard.scrape("/metrics");
    assert_eq!(
        sample(
            &exposition,
            "seqsync_instance_stopped_qualifying",
            "instance_id=\"b\""
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        sample(&exposition, "seqsync_instance_guarded", "instance_id=\"c\""),
        Some(1.0)
    );
    drop(server);
    for w in writers {
        w.stop().await;
    }
    for p in &pairs {
        p.stop_replication().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_or_malformed_metrics_address_is_refused_before_any_round() {
    let pair = Pair::new("guard_bad").await;
    let config = pair.write_config(&instance_entry("x", &pair, "nothing", 10));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (address, says) in [
        ("nonsense", "expected ADDR:PORT"),
        ("127.0.0.1:99999", "expected ADDR:PORT"),
        (taken.as_str(), "cannot listen there"),
    ] {
        let out = pair.run(&[
            "--config",
            config.to_str().unwrap(),
            "watch",
            "--all",
            "--offset",
            "10",
            "--metrics-listen",
            address,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{address}: {stderr}");
        assert!(stderr.contains(says), "{address}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The guard's own options mean nothing for one instance: refused, not ignored.
    for option in [
        ["--metrics-listen", "127.0.0.1:0"],
        ["--log-format", "json"],
        ["--max-concurrent", "2"],
        ["--relist-every", "5s"],
        ["--ready-within", "1m"],
    ] {
        let mut args = vec!["watch", "--instance", "x", "--offset", "1"];
        args.extend(option);
        let out = pair.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option:?}: {stderr}");
        assert!(stderr.contains("add --all"), "{option:?}: {stderr}");
        // It names what was given, and only that.
        assert!(
            stderr.contains(&format!("{} is for the guard", option[0])),
            "{option:?}: {stderr}"
        );
        let named = [
            "--metrics-listen",
            "--log-format",
            "--max-concurrent",
            "--relist-every",
            "--ready-within",
        ]
        .iter()
        .filter(|o| stderr.contains(*o))
        .count();
        assert_eq!(named, 1, "{option:?}: {stderr}");
    }
    let out = pair.run(&[
        "watch",
        "--instance",
        "x",
        "--offset",
        "1",
        "--max-concurrent",
        "2",
        "--ready-within",
        "1m",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-concurrent and --ready-within are for the guard"),
        "{stderr}"
    );
    // Nothing configured: refused, rather than a service that looks healthy guarding nothing.
    std::fs::remove_file(&config).unwrap();
    let out = pair.run(&["watch", "--all", "--offset", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing to guard: no config file was found"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_good_config_and_refuses_a_bad_one_keeping_the_running_one() {
    let pair = Pair::new("guard_hup").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    let good = instance_entry("x", &pair, &sub, 100);
    let config = pair.write_config(&good);
    let guard = Guard::start(
        &pair,
        &config,
        "journal.jsonl",
        &["--offset", "10", "--interval", "200ms"],
    );
    guard.wait(Duration::from_secs(30), "a round", |e| {
        e["event"] == "round"
    });
    std::fs::write(&config, format!("{good}\n[defaults]\nnot_a_key = 1\n")).unwrap();
    guard.signal(libc::SIGHUP);
    let refused = guard.wait(Duration::from_secs(10), "the reload refused", |e| {
        e["event"] == "reload-refused"
    });
    assert!(
        refused["error"].as_str().unwrap().contains("not_a_key"),
        "{refused}"
    );
    guard.wait(Duration::from_secs(10), "rounds go on", |e| {
        e["event"] == "round"
    });
    // A second instance added: started; the unchanged one keeps its loop.
    let other = Pair::new("guard_hup2").await;
    let other_sub = other
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    std::fs::write(
        &config,
        format!("{good}{}", instance_entry("y", &other, &other_sub, 100)),
    )
    .unwrap();
    guard.signal(libc::SIGHUP);
    guard.wait(Duration::from_secs(10), "the reload", |e| {
        e["event"] == "reloaded"
    });
    let mut seen_removed = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = guard.wait(
            deadline.saturating_duration_since(Instant::now()),
            "a round of y",
            |_| true,
        );
        seen_removed |= e["event"] == "removed";
        if e["event"] == "round" && e["instance"] == "y" {
            break;
        }
    }
    assert!(!seen_removed, "an unchanged instance is not restarted");
    pair.stop_replication().await;
    other.stop_replication().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_one_active_and_the_standby_takes_over_after_sigkill() {
    let pair = Pair::new("guard_ha").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    let config = pair.write_config(&instance_entry("ha", &pair, &sub, 5000));
    let writer = Writer::start(&pair).await;
    let interval = Duration::from_millis(500);
    let args = ["--offset", "5000", "--interval", "500ms"];
    let mut active = Guard::start(&pair, &config, "one.jsonl", &args);
    active.wait(Duration::from_secs(30), "active", |e| {
        e["event"] == "role" && e["role"] == "active"
    });
    let mut standby = Guard::start(&pair, &config, "two.jsonl", &args);
    let role = standby.wait(Duration::from_secs(30), "standby", |e| e["event"] == "role");
    assert_eq!(role["role"], "standby", "{role}");
    assert!(
        role["holder"].as_str().unwrap().contains("guard on"),
        "{role}"
    );
    let (_, metrics) = standby.scrape("/metrics");
    assert_eq!(
        sample(&metrics, "seqsync_instance_role", "role=\"standby\""),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "seqsync_round_failures_total", "ha"),
        Some(0.0),
        "standby is not failing"
    );
    for trial in 0..3 {
        // SIGKILL at a moment in the active one's cycle that differs each trial.
        std::thread::sleep(Duration::from_millis(300 + 170 * trial));
        active.signal(libc::SIGKILL);
        let killed = Instant::now();
        standby.wait(Duration::from_secs(30), "the takeover", |e| {
            e["event"] == "role" && e["role"] == "active"
        });
        let took = killed.elapsed();
        standby.wait(Duration::from_secs(30), "a round after the takeover", |e| {
            e["event"] == "round"
        });
        assert!(
            took < interval * 2 + Duration::from_secs(1),
            "trial {trial}: the standby took over after {took:?}"
        );
        let (_, metrics) = standby.scrape("/metrics");
        assert_eq!(
            sample(&metrics, "seqsync_instance_role", "role=\"active\""),
            Some(1.0),
            "trial {trial}"
        );
        // The switch: the destination's next id is past every replicated row.
        let destination = connect(&pair.destination_url).await;
        let ahead: bool = destination
            .query_one(
                "SELECT (SELECT last_value FROM t_id_seq) > (SELECT coalesce(max(id), 0) FROM t)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            ahead,
            "trial {trial}: the destination's sequence is behind its data"
        );
        // The killed one comes back as the standby.
        std::mem::swap(&mut active, &mut standby);
        drop(standby);
        standby = Guard::start(&pair, &config, &format!("r{trial}.jsonl"), &args);
        let role = standby.wait(Duration::from_secs(30), "standby again", |e| {
            e["event"] == "role"
        });
        assert_eq!(role["role"], "standby", "trial {trial}: {role}");
    }
    writer.stop().await;
    // Cutover: no duplicate key when the application writes to the destination.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let destination = connect(&pair.destination_url).await;
    destination
        .batch_execute("INSERT INTO t (v) SELECT 2 FROM generate_series(1, 100)")
        .await
        .expect("no duplicate key after the switch");
    drop(active);
    drop(standby);
    pair.stop_replication().await;
}

/// Mean time between the rounds of `instance` over `span`, and how many there were.
fn round_gaps(guard: &Guard, instance: &str, span: Duration) -> (Duration, usize) {
    let deadline = Instant::now() + span;
    let mut times = vec![];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match guard.events.recv_timeout(left) {
            Ok(e) if e["event"] == "round" && e["instance"] == instance => {
                times.push(Instant::now())
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        times.len() >= 3,
        "too few rounds of {instance}: {}",
        times.len()
    );
    let total = *times.last().unwrap() - times[0];
    (total / (times.len() as u32 - 1), times.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_that_never_answers_does_not_slow_the_others() {
    let pair = Pair::new("guard_silent").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    // Accepts connections and never says a word: every try waits out connect_timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("postgresql://u:p@{}/x", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = vec![];
        for stream in silent.incoming().take(50) {
            open.push(stream);
        }
    });
    let good = instance_entry("good", &pair, &sub, 100);
    let with_silent = format!(
        "[defaults]\nconnect_timeout = \"3s\"\n{good}\
         [[instances]]\nid = \"silent\"\nkind = \"migration\"\nstatus = \"running\"\nphase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{silent_url}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{silent_url}\" }}\n"
    );
    let args = ["--offset", "100", "--interval", "200ms"];
    let config = pair.write_config(&format!("[defaults]\nconnect_timeout = \"3s\"\n{good}"));
    let alone = Guard::start(&pair, &config, "alone.jsonl", &args);
    alone.wait(Duration::from_secs(30), "a first round", |e| {
        e["event"] == "round"
    });
    let (baseline, _) = round_gaps(&alone, "good", Duration::from_secs(6));
    drop(alone);
    std::fs::write(&config, with_silent).unwrap();
    let beside = Guard::start(&pair, &config, "beside.jsonl", &args);
    beside.wait(Duration::from_secs(30), "a first round", |e| {
        e["event"] == "round" && e["instance"] == "good"
    });
    let (gap, rounds) = round_gaps(&beside, "good", Duration::from_secs(6));
    let (_, metrics) = beside.scrape("/metrics");
    assert!(
        sample(
            &metrics,
            "seqsync_round_failures_total",
            "instance_id=\"silent\""
        )
        .unwrap_or(0.0)
            >= 1.0,
        "the silent instance was tried: {metrics}"
    );
    assert!(
        gap <= baseline * 3 / 2 + Duration::from_millis(150),
        "rounds of the good instance every {gap:?} beside a silent one ({rounds} rounds), {baseline:?} alone"
    );
    drop(beside);
    drop(held);
    pair.stop_replication().await;
}

/// Sessions the server has started in this database since its statistics began.
async fn sessions_started(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Destination backends of seqsync's round sessions (not the guard lock's), by pid.
async fn round_sessions(pair: &Pair) -> Vec<i32> {
    let client = connect(&pair.destination_url).await;
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name LIKE 'seqsync/%' AND application_name NOT LIKE '%(guard on %' \
             ORDER BY pid",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_rounds_keep_their_sessions_and_a_terminated_one_is_replaced() {
    let pair = Pair::new("guard_sessions").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    let config = pair.write_config(&instance_entry("s", &pair, &sub, 100));
    let guard = Guard::start(
        &pair,
        &config,
        "journal.jsonl",
        // Listed again every 200 ms: a relist opens no connection either.
        &[
            "--offset",
            "100",
            "--interval",
            "100ms",
            "--relist-every",
            "200ms",
        ],
    );
    // The first round applies (its session leaves with the run); the next ones are idle.
    guard.rounds(3);
    let first = round_sessions(&pair).await;
    for _ in 0..5 {
        let round = guard.wait(Duration::from_secs(30), "an idle round", |e| {
            e["event"] == "round"
        });
        assert_eq!(round["applied"], 0, "{round}");
    }
    assert_eq!(
        first.len(),
        1,
        "one destination session for the rounds: {first:?}"
    );
    assert_eq!(round_sessions(&pair).await, first, "idle rounds reuse it");
    // Nor does the status check connect (it reads the subscription, and looks for a two-way
    // task, through the kept sessions), nor listing the instances again. Sessions a server has
    // ever started, counted by the server (a backend that ends reports its session; slack for
    // the test's own).
    let (source, destination) = (
        connect(&pair.source_url).await,
        connect(&pair.destination_url).await,
    );
    let before = (
        sessions_started(&source).await,
        sessions_started(&destination).await,
    );
    guard.rounds(10);
    std::thread::sleep(Duration::from_millis(500));
    let after = (
        sessions_started(&source).await,
        sessions_started(&destination).await,
    );
    assert!(
        after.0 - before.0 <= 2 && after.1 - before.1 <= 2,
        "10 idle rounds opened no connections: sessions started on (source, destination) \
         went from {before:?} to {after:?}"
    );
    connect(&pair.destination_url)
        .await
        .execute("SELECT pg_terminate_backend($1)", &[&first[0]])
        .await
        .unwrap();
    // The next round may fail on the dead session; the one after connects again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        guard.wait(Duration::from_secs(30), "a round after the kill", |e| {
            e["event"] == "round"
        });
        let now = round_sessions(&pair).await;
        if now.len() == 1 && now != first {
            break;
        }
        assert!(Instant::now() < deadline, "no new session: {now:?}");
    }
    drop(guard);
    pair.stop_replication().await;
}

/// Each instance's own include and exclude lists from the config hold under `--all`: an
/// excluded sequence is never set, the others are. Beside it, an instance whose password is
/// refused is reported in the logs and metrics (never with its password) and stops nothing.
#[tokio::test(flavor = "multi_thread")]
async fn each_instance_keeps_its_own_exclude_list() {
    let pair = Pair::new("guard_exclude").await;
    let sub = pair
        .replicate("CREATE TABLE t (id serial PRIMARY KEY, v int)", "t")
        .await;
    pair.both("CREATE SEQUENCE keep_me; CREATE SEQUENCE skip_me")
        .await;
    connect(&pair.source_url)
        .await
        .batch_execute("SELECT setval('keep_me', 500); SELECT setval('skip_me', 500)")
        .await
        .unwrap();
    let entry = instance_entry("x", &pair, &sub, 100) + "exclude = [\"public.skip_*\"]\n";
    let wrong = |url: &str| {
        let (user, rest) = url.split_once('@').unwrap();
        format!(
            "{}:not-the-password@{rest}",
            user.rsplit_once(':').unwrap().0
        )
    };
    let denied = instance_entry("denied", &pair, &sub, 100)
        .replace(&pair.source_url, &wrong(&pair.source_url))
        .replace(&pair.destination_url, &wrong(&pair.destination_url));
    let config = pair.write_config(&(entry + &denied));
    let guard = Guard::start(
        &pair,
        &config,
        "journal.jsonl",
        &["--offset", "100", "--interval", "100ms"],
    );
    let said = guard.wait(Duration::from_secs(30), "the refused instance", |e| {
        e["instance"] == "denied" && e["level"] == "warn"
    });
    let text = said.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    guard.rounds(3);
    let (_, metrics) = guard.scrape("/metrics");
    let failures = sample(
        &metrics,
        "seqsync_round_failures_total",
        "instance_id=\"denied\"",
    );
    assert!(failures.unwrap_or(0.0) >= 1.0, "{metrics}");
    assert!(!metrics.contains("not-the-password"));
    drop(guard);
    let destination = connect(&pair.destination_url).await;
    let state = |name: &str| format!("SELECT last_value, is_called FROM {name}");
    let kept = destination.query_one(&state("keep_me"), &[]).await.unwrap();
    assert_eq!(
        (kept.get::<_, i64>(0), kept.get::<_, bool>(1)),
        (599, true),
        "keep_me is guarded: its next value is 500 + 100"
    );
    let skipped = destination.query_one(&state("skip_me"), &[]).await.unwrap();
    assert_eq!(
        (skipped.get::<_, i64>(0), skipped.get::<_, bool>(1)),
        (1, false),
        "skip_me is excluded by the instance's config and never set"
    );
    pair.stop_replication().await;
}
