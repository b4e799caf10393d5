//! The README's first command, as a newcomer runs it: `scripts/demo` in a terminal (tmux),
//! a sync through the TUI, the proof insert, and nothing left behind — after a normal exit and
//! after the TUI is killed.

mod common;
use common::tmux::Tmux;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The demo as a newcomer runs it: without the `CARGO_PKG_*` / `CARGO_MANIFEST_*` variables
/// the test harness sets. Build scripts (ring's) name them in `rerun-if-env-changed`, so with
/// them set the demo's `cargo build --release` rebuilt ring, rustls and seqsync — minutes on 2
/// cores, three demos waiting on one lock, and the tests timed out.
/// The line the test's shell prints when the demo has ended.
const EXIT: &str = "DEMO-EXIT=";

fn demo_command() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let unset: String = std::env::vars()
        .map(|(key, _)| key)
        .filter(|key| {
            key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || key.starts_with("CARGO_BIN_")
                || matches!(
                    key.as_str(),
                    "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
                )
        })
        .map(|key| format!(" -u {key}"))
        .collect();
    format!(
        "env{unset} '{}'; echo DEMO-EXIT=$?; sleep 900",
        script.display()
    )
}

/// The demo's folder, from its "Starting two PostgreSQL clusters … (in /tmp/…)" line.
fn demo_root(screen: &str) -> PathBuf {
    let start = screen
        .find("(in /tmp/seqsync-demo.")
        .expect("the demo names its folder")
        + 4;
    let end = start + screen[start..].find(')').unwrap();
    PathBuf::from(&screen[start..end])
}

fn nothing_left(root: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let processes = Command::new("pgrep")
            .args(["-f", &root.display().to_string()])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&processes.stdout)
            .trim()
            .to_string();
        if !root.exists() && left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: folder exists = {}, processes = {left}",
            root.exists()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_demo_syncs_through_the_tui_and_cleans_up() {
    // At 80×24, the smallest screen seqsync promises.
    let tmux = Tmux::start("flow", &demo_command(), 80, 24);
    let started = tmux.wait_for_unless("Starting two PostgreSQL clusters", Some(EXIT), 600);
    let root = demo_root(&started);
    // Three demos set up at once beside the rest of the suite on 2 cores: minutes, not seconds.
    let before = tmux.wait_for_unless("Press Enter to open the seqsync TUI", Some(EXIT), 420);
    assert!(
        before.contains("duplicate key value violates unique constraint"),
        "the collision stays on screen until a key: {before}"
    );
    tmux.keys(&["Enter"]);
    let list = tmux.wait_for("Data Synchronization", 60);
    assert!(list.contains("orders"), "{list}");
    tmux.wait_for("incremental", 60);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Synchronize Sequence (s)", 30);
    tmux.keys(&["s"]);
    tmux.wait_for("Sequence Offset", 10);
    tmux.keys(&["Enter"]);
    tmux.wait_for("change(s)?", 30);
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized", 30);
    assert!(results.contains("orders_id_seq"), "{results}");
    assert!(
        results.contains("Synchronized · run ") && results.contains("to undo it: H"),
        "the run and how to undo it: {results}"
    );
    tmux.keys(&["q"]);
    let end = tmux.wait_for("DEMO-EXIT=", 60);
    assert!(end.contains("DEMO-EXIT=0"), "{end}");
    let proof = &end[end.find("Proof:").expect("the proof step")..];
    assert!(!proof.contains("duplicate key"), "{proof}");
    assert!(
        proof.contains("(1 row)"),
        "the cutover insert succeeded: {proof}"
    );
    nothing_left(&root);
}

#[test]
fn killing_the_tui_still_cleans_up() {
    let tmux = Tmux::start("kill", &demo_command(), 110, 45);
    let started = tmux.wait_for_unless("Starting two PostgreSQL clusters", Some(EXIT), 600);
    let root = demo_root(&started);
    tmux.wait_for_unless("Press Enter to open the seqsync TUI", Some(EXIT), 420);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Data Synchronization", 60);
    let config = root.join("seqsync.toml");
    common::tmux::kill_tui(&config);
    let end = tmux.wait_for("DEMO-EXIT=", 60);
    assert!(end.contains("DEMO-EXIT=0"), "{end}");
    nothing_left(&root);
}

#[test]
fn ctrl_c_during_setup_cleans_up() {
    let tmux = Tmux::start("interrupt", &demo_command(), 110, 45);
    let started = tmux.wait_for_unless("Replicating each database", Some(EXIT), 600);
    let root = demo_root(&started);
    tmux.keys(&["C-c"]);
    let end = tmux.wait_for("DEMO-EXIT=", 60);
    assert!(end.contains("DEMO-EXIT=130"), "{end}");
    nothing_left(&root);
}
