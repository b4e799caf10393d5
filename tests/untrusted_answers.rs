//! The cloud API and the instances' hosts are untrusted input, like a database's names: a
//! misbehaving or hostile DTS endpoint (tests/dts/fake_dts.py's "hostile" scenarios, and the
//! official SDK's models where the answer is well formed), a credentials file with a secret in
//! the wrong place, a pasted 100 KB connection string, and 5,000 hosts that never answer.
//! Each case asserts what reaches the operator (the exit code, the JSON's `unanswered`, no raw
//! control byte), and where it matters the peak memory and the number of requests. None of
//! these needs PostgreSQL: every host is a listener of the test's own on loopback.

mod common;
use common::dts::{FakeDts, KEYS, KEY_ID};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Peak memory allowed for one `seqsync instances` against a hostile endpoint. An empty run is
/// about 15 MiB; the answers are bounded at 4 MiB each.
const MEMORY_BOUND_KIB: i64 = 64 * 1024;
/// Requests allowed for one region and tab: seqsync's page cap.
const PAGES_PER_LIST: usize = 100;

/// A folder of its own, with seqsync's journal, log and HOME in it.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir =
            std::env::temp_dir().join(format!("seqsync-untrusted-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Sandbox { dir }
    }

    fn config(&self, toml: &str) -> PathBuf {
        let path = self.dir.join("seqsync.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seqsync"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("SEQSYNC_JOURNAL", self.dir.join("journal.jsonl"))
            .env("SEQSYNC_LOG", self.dir.join("seqsync.log"))
            .env_remove("SEQSYNC_CONFIG")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a run ended: exit code, stdout, stderr, and its own peak resident memory (wait4's
/// rusage of that one process).
struct Ran {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    peak_kib: i64,
}

// The child is reaped by wait4 (for its rusage), which std's Child cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> Ran {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut all = vec![];
            from.read_to_end(&mut all).unwrap();
            all
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which std has not reaped (we never call wait on it).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let stdout = stdout.join().unwrap();
    let stderr = String::from_utf8(stderr.join().unwrap()).expect("stderr is UTF-8");
    assert_no_raw_controls(&stdout, "stdout");
    assert_no_raw_controls(stderr.as_bytes(), "stderr");
    Ran {
        code,
        stdout,
        stderr,
        peak_kib: usage.ru_maxrss,
    }
}

/// No control character (but the newline), DEL, C1 or bidirectional control reaches the output.
fn assert_no_raw_controls(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
        })
        .collect();
    assert!(raw.is_empty(), "{what} carries raw {raw:?}");
}

/// `instances --format json` against `fake`: the run and its JSON.
fn instances_json(sandbox: &Sandbox, config: &Path, env: &[(&str, &str)]) -> (Ran, Value) {
    let ran = run_measured(sandbox.command(
        &[
            "--config",
            config.to_str().unwrap(),
            "instances",
            "--format",
            "json",
        ],
        env,
    ));
    let json: Value = serde_json::from_slice(&ran.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr: {}", ran.stderr));
    (ran, json)
}

/// Every `unanswered` entry names DTS, a region and a tab; their errors are returned.
fn unanswered(json: &Value) -> Vec<String> {
    json["unanswered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(u["source"], "dts", "{u}");
            assert!(u["region"].is_string() && u["tab"].is_string(), "{u}");
            u["error"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A listener that records every request it is sent, and answers each as DTS would, so that
/// a client that followed a redirect here would take its answer for the job list.
struct Trap {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Trap {
    fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(vec![]));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, done) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut request = vec![0u8; 65536];
                let n = stream.read(&mut request).unwrap_or(0);
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&request[..n]).into_owned());
                let body =
                    json!({"DtsJobList": [{"DtsJobId": "dtsj-planted", "Status": "Synchronizing"}],
                                  "TotalRecordCount": 1, "Success": true})
                    .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Trap {
            port,
            received,
            stop,
        }
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_redirect_is_refused_and_its_target_receives_nothing() {
    let sandbox = Sandbox::new("redirect");
    let trap = Trap::start();
    let target = format!("http://127.0.0.1:{}/steal", trap.port);
    let fake = FakeDts::start(&sandbox.dir, json!({ "hostile": { "redirect": target } }));
    let config = sandbox.config(&fake.config(""));
    let with_token = [
        KEYS[0],
        KEYS[1],
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "sts-token-must-not-travel"),
    ];
    for env in [&KEYS[..], &with_token[..]] {
        let (ran, json) = instances_json(&sandbox, &config, env);
        assert_eq!(
            ran.code, 3,
            "a failed lookup is not a success: {}",
            ran.stderr
        );
        assert_eq!(
            json["instances"],
            json!([]),
            "the target's answer was not taken"
        );
        let errors = unanswered(&json);
        assert_eq!(errors.len(), 4, "two regions, two tabs: {errors:?}");
        for e in &errors {
            assert!(
                e.contains(&format!("redirects to {target}")) && e.contains("never follows"),
                "{e}"
            );
        }
        assert!(!ran.stderr.contains("sts-token-must-not-travel"));
    }
    assert_eq!(
        trap.received.lock().unwrap().len(),
        0,
        "the redirect target was sent: {:?}",
        trap.received.lock().unwrap()
    );
    // A redirect to itself (a loop) costs one request per region and tab, not 22.
    let looping = format!("http://127.0.0.1:{}/", fake.port);
    fake.set(json!({ "hostile": { "redirect": looping } }));
    let before = fake.requests().len();
    let (ran, _) = instances_json(&sandbox, &config, &KEYS);
    assert_eq!(ran.code, 3);
    assert_eq!(fake.requests().len() - before, 4);
}

#[test]
fn a_huge_answer_is_refused_in_bounded_memory() {
    let sandbox = Sandbox::new("huge");
    for declare_length in [false, true] {
        let fake = FakeDts::start(
            &sandbox.dir,
            json!({ "hostile": { "huge": 60_000_000, "declare_length": declare_length } }),
        );
        let config = sandbox.config(&fake.config(""));
        let (ran, json) = instances_json(&sandbox, &config, &KEYS);
        assert_eq!(ran.code, 3, "{}", ran.stderr);
        for e in unanswered(&json) {
            assert!(e.contains("larger than seqsync reads"), "{e}");
        }
        assert!(
            ran.peak_kib < MEMORY_BOUND_KIB,
            "peak {} KiB with a 60 MB answer (declared length: {declare_length})",
            ran.peak_kib
        );
        assert!(ran.stdout.len() < 10_000 && ran.stderr.len() < 4_000);
    }
}

#[test]
fn an_endless_total_record_count_stops_at_the_page_cap() {
    let sandbox = Sandbox::new("endless");
    let fake = FakeDts::start(&sandbox.dir, json!({ "hostile": { "endless": true } }));
    // One region, and a deadline long enough that the cap, not the clock, ends the list.
    let config = sandbox.config(&format!(
        "[defaults]\nconnect_timeout = \"20s\"\n\n[dts]\nregions = [\"cn-hangzhou\"]\n\
         endpoint = \"http://127.0.0.1:{}\"\n",
        fake.port
    ));
    let (ran, json) = instances_json(&sandbox, &config, &KEYS);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let requests = fake.requests().len();
    assert!(
        requests <= 2 * PAGES_PER_LIST,
        "{requests} requests for one region's two tabs"
    );
    let listed = json["instances"].as_array().unwrap().len();
    assert_eq!(listed, 2 * 3_000, "each tab's first 3,000 jobs are kept");
    let errors = unanswered(&json);
    assert_eq!(errors.len(), 2, "{errors:?}");
    for e in errors {
        assert!(
            e.contains("DTS says there are 10000000 job(s); seqsync lists at most 3000"),
            "{e}"
        );
    }
    assert!(ran.peak_kib < MEMORY_BOUND_KIB, "peak {} KiB", ran.peak_kib);
}

#[test]
fn invalid_json_and_an_html_error_page_are_called_what_they_are() {
    let sandbox = Sandbox::new("notjson");
    let fake = FakeDts::start(&sandbox.dir, json!({ "hostile": { "invalid_json": true } }));
    let config = sandbox.config(&fake.config(""));
    let (ran, json) = instances_json(&sandbox, &config, &KEYS);
    assert_eq!(ran.code, 3);
    for e in unanswered(&json) {
        assert!(
            e.starts_with("invalid JSON at line 1 column ")
                && e.contains("(HTTP 200, application/json;charset=utf-8)")
                && !e.contains("no message"),
            "{e}"
        );
    }

    fake.set(json!({ "hostile": { "html_500": true } }));
    for format in ["json", "table"] {
        let ran = run_measured(sandbox.command(
            &[
                "--config",
                config.to_str().unwrap(),
                "instances",
                "--format",
                format,
            ],
            &KEYS,
        ));
        assert_eq!(ran.code, 3);
        let line = ran
            .stderr
            .lines()
            .find(|l| l.contains("cn-hangzhou (synchronization)"))
            .unwrap_or_else(|| panic!("{}", ran.stderr));
        assert!(
            line.contains("HTTP 500 Internal Server Error, not JSON (text/html): «<!DOCTYPE html> <html><head><title>500 Internal Server Error</title>"),
            "{line}"
        );
        assert!(line.contains("\\x1b]0;owned"), "escaped, not sent: {line}");
        assert!(line.len() < 1_000, "an excerpt, not the page: {line}");
    }
}

fn job(id: &str, name: &str) -> Value {
    json!({
        "DtsJobId": id, "DtsJobName": name, "Status": "Synchronizing",
        "MigrationMode": { "DataSynchronization": true },
        "DataSynchronizationStatus": { "Status": "Catched" },
        "SourceEndpoint": { "EngineName": "PostgreSQL", "Ip": "127.0.0.1", "Port": "1", "DatabaseName": "s" },
        "DestinationEndpoint": { "EngineName": "PostgreSQL", "Ip": "127.0.0.1", "Port": "1", "DatabaseName": "d" },
    })
}

#[test]
fn a_wrongly_typed_field_costs_its_job_not_the_page() {
    let sandbox = Sandbox::new("typed");
    let mut bad = job("dtsj-bad", "the bad one");
    bad["Status"] = json!(42);
    let jobs = json!([job("dtsj-a", "a"), bad, job("dtsj-b", "b")]);
    let fake = FakeDts::start(
        &sandbox.dir,
        json!({ "jobs": { "cn-hangzhou": { "SYNC": jobs } } }),
    );
    let config = sandbox.config(&fake.config(""));
    let (ran, json) = instances_json(&sandbox, &config, &KEYS);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let listed = json["instances"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["dtsj-a", "dtsj-bad", "dtsj-b"],
        "the page's other jobs are kept"
    );
    let bad = &listed[1];
    assert_eq!(bad["status"], "unknown");
    assert_eq!(bad["synchronize_sequence"], false);
    assert!(
        bad["note"]
            .as_str()
            .unwrap()
            .contains("unexpected shape: Status: expected a string"),
        "{bad:#}"
    );
    let entries = json["unanswered"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["job"], "dtsj-bad");
    assert_eq!(entries[0]["tab"], "synchronization");
    assert!(ran
        .stderr
        .contains("DTS cn-hangzhou (synchronization) job dtsj-bad: in an unexpected shape: Status: expected a string"));
}

#[test]
fn hostile_text_in_every_field_never_reaches_the_terminal_raw() {
    let sandbox = Sandbox::new("hostile-text");
    let evil = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}gpj\n\r\u{9b}31m\u{7f}";
    let mut j = job(&format!("dtsj-{evil}"), &format!("name {evil}"));
    j["Status"] = json!(format!("Synchronizing{evil}"));
    j["DataSynchronizationStatus"]["Status"] = json!(evil);
    for side in ["SourceEndpoint", "DestinationEndpoint"] {
        for field in [
            "EngineName",
            "Ip",
            "Port",
            "DatabaseName",
            "InstanceID",
            "InstanceType",
        ] {
            j[side][field] = json!(format!("{field}{evil}"));
        }
    }
    j["DtsJobDirection"] = json!(evil);
    let fake = FakeDts::start(
        &sandbox.dir,
        json!({ "jobs": { "cn-hangzhou": { "SYNC": [j, job("dtsj-plain", "plain")] } } }),
    );
    let config = sandbox.config(&fake.config(""));
    let (ran, json) = instances_json(&sandbox, &config, &KEYS);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let listed = json["instances"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    // JSON keeps the exact text (escaped as \uXXXX, read back the same).
    assert_eq!(listed[0]["name"], format!("name {evil}"));
    assert_eq!(listed[0]["status"], "unknown");
    let table =
        run_measured(sandbox.command(&["--config", config.to_str().unwrap(), "instances"], &KEYS));
    assert_eq!(table.code, 0, "{}", table.stderr);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("dtsj-\\x1b]0;owned\\x07"), "{text}");
    assert_eq!(
        text.lines().count(),
        3,
        "a newline in a field does not split a row: {text}"
    );
}

#[test]
fn a_secret_of_the_wrong_type_in_the_cli_config_is_never_shown() {
    let sandbox = Sandbox::new("cli-config");
    let fake = FakeDts::start(&sandbox.dir, json!({ "jobs": {} }));
    let config = sandbox.config(&fake.config(""));
    std::fs::create_dir_all(sandbox.dir.join(".aliyun")).unwrap();
    for (file, key) in [
        (
            format!(
                "{{\"current\": \"work\",\n \"profiles\": [{{\"name\": \"work\", \"mode\": \"AK\",\n  \"access_key_id\": \"{KEY_ID}\",\n  \"access_key_secret\": {{\"value\": \"SeCrEt-4711\"}}}}]}}"
            ),
            "profiles[0].access_key_secret: expected a string",
        ),
        (
            "{\"current\": \"work\",\n \"profiles\": \"SeCrEt-4711\"}".to_string(),
            "profiles: expected a sequence",
        ),
    ] {
        std::fs::write(sandbox.dir.join(".aliyun/config.json"), file).unwrap();
        let (ran, json) = instances_json(&sandbox, &config, &[]);
        assert_eq!(ran.code, 3);
        assert!(!ran.stderr.contains("SeCrEt") && !ran.stdout.windows(6).any(|w| w == b"SeCrEt"));
        assert!(
            ran.stderr.contains(".aliyun/config.json is not valid: line ") && ran.stderr.contains(key),
            "{}",
            ran.stderr
        );
        assert_eq!(json["unanswered"][0]["source"], "dts");
    }
}

#[test]
fn a_pasted_100_kb_connection_string_is_not_echoed_whole() {
    let sandbox = Sandbox::new("long-url");
    let long = format!("postgresql://u@h/db?{}", "x".repeat(100_000));
    let ran = run_measured(sandbox.command(
        &[
            "plan",
            "--source",
            &long,
            "--destination",
            &long,
            "--offset",
            "1",
        ],
        &[],
    ));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("more bytes)"), "{}", ran.stderr);
    assert!(
        ran.stderr.len() < 2_000,
        "{} bytes of stderr",
        ran.stderr.len()
    );
    let ran = run_measured(sandbox.command(
        &[
            "plan",
            "--source",
            "x",
            "--destination",
            "y",
            "--offset",
            &"9".repeat(100_000),
        ],
        &[],
    ));
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.len() < 1_000,
        "{} bytes of stderr",
        ran.stderr.len()
    );
}

#[test]
fn five_thousand_silent_instances_list_row_by_row_within_the_documented_bound() {
    let sandbox = Sandbox::new("silent");
    // 50 servers on loopback that accept connections (the kernel's backlog) and never answer.
    let silent: Vec<TcpListener> = (0..50)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut config = "[defaults]\nconnect_timeout = \"1s\"\n".to_string();
    for i in 0..5_000 {
        let port = silent[i % silent.len()].local_addr().unwrap().port();
        let url = format!("postgresql://postgres@127.0.0.1:{port}/db{i}");
        config.push_str(&format!(
            "[[instances]]\nid = \"silent-{i}\"\nsubscription = \"s\"\n\
             source = {{ engine = \"postgresql\", url = \"{url}\" }}\n\
             destination = {{ engine = \"postgresql\", url = \"{url}\" }}\n"
        ));
    }
    let config = sandbox.config(&config);
    let started = Instant::now();
    let mut child = sandbox
        .command(&["--config", config.to_str().unwrap(), "instances"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(header.starts_with("ID"), "{header}");
    let first = lines.next().unwrap().unwrap();
    let first_after = started.elapsed();
    assert!(first.starts_with("silent-"), "{first}");
    let rows = 1 + lines
        .map(|l| l.unwrap())
        .filter(|l| l.contains("unknown"))
        .count();
    let took = started.elapsed();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(rows, 5_000);
    assert!(
        first_after < Duration::from_secs(5),
        "first row after {first_after:?}"
    );
    // The README's bound: ⌈5,000 / 256⌉ = 20 waves of (connect timeout 1 s + 1 s), plus start-up.
    assert!(took < Duration::from_secs(45), "took {took:?}");
    drop(silent);
}
