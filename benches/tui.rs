//! TUI figures, each beside a baseline measured in the same run:
//! * time to the first frame with 200 instances of which 20 never answer, against an app that
//!   would wait for every status before drawing;
//! * one frame of the results table at 100,000 rows, against building every row;
//! * peak memory with 100,000 sequences loaded, against the process before loading them.
//!
//! Run with `cargo bench --bench tui` (no database needed: the 180 answering instances point at
//! a port where nothing listens, the 20 silent ones at a socket that never answers).

use ratatui::backend::TestBackend;
use ratatui::widgets::{Row, Table};
use ratatui::Terminal;
use seqsync::app::msg::{Msg, Response};
use seqsync::app::state::{Results, Screen, State};
use seqsync::app::update::{init, update};
use seqsync::engine::model::{PlanRow, RowStatus};
use seqsync::ui::{view, Theme};
use seqsync::worker::{self, WorkerConfig};
use std::time::{Duration, Instant};

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn config_with_instances(
    dir: &std::path::Path,
    silent_port: u16,
    closed_port: u16,
) -> std::path::PathBuf {
    let mut text = String::from("[defaults]\nconnect_timeout = \"2s\"\n");
    for i in 0..200 {
        let port = if i % 10 == 0 {
            silent_port
        } else {
            closed_port
        };
        text.push_str(&format!(
            "[[instances]]\nid = \"i{i:03}\"\nregion = \"r{}\"\nsubscription = \"s\"\n\
             source = {{ engine = \"postgresql\", url = \"postgresql://u:pw@127.0.0.1:{port}/db\" }}\n\
             destination = {{ engine = \"postgresql\", url = \"postgresql://u:pw@127.0.0.1:{port}/db\" }}\n",
            i % 4
        ));
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn rows(n: i64) -> Vec<PlanRow> {
    (0..n)
        .map(|i| PlanRow {
            schema: "public".into(),
            name: format!("table_{i:06}_id_seq").into(),
            source_value: Some(i * 3),
            destination_before: Some(1),
            target: Some(i * 3 + 10_000),
            destination_after: Some(i * 3 + 10_000),
            status: RowStatus::Updated,
            message: String::new(),
            destination_oid: Some(i as u32),
            source_name: None,
            matched: Default::default(),
            source_key: None,
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("seqsync-tui-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config_with_instances(&dir, silent.local_addr().unwrap().port(), closed_port);
    let theme = Theme { color: false };

    // 1. First frame: config, state, worker started, effects sent, frame drawn.
    let started = Instant::now();
    let settings = seqsync::config::load(Some(&config)).unwrap();
    let mut state = State::new(settings.instances.clone(), settings.offset, String::new());
    let (requests, mut responses) = worker::spawn(WorkerConfig {
        context: seqsync::engine::run::Context {
            timeouts: settings.timeouts,
            journal: seqsync::engine::journal::Journal::new(dir.join("journal.jsonl")),
            batch_size: 2_500,
        },
        observers: seqsync::engine::run::ObserveGate::default(),
        dts: None,
        overlays: vec![],
    });
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| view(f, &state, theme)).unwrap();
    let first_frame = started.elapsed();
    for effect in init(&state) {
        let _ = requests.send(effect);
    }
    // Baseline: an app that draws only once every status is known.
    let mut answered = 0;
    while answered < state.instances.len() {
        let response = responses.recv().await.unwrap();
        if matches!(response, Response::Observed { .. }) {
            answered += 1;
        }
        update(&mut state, Msg::Worker(response));
    }
    terminal.draw(|f| view(f, &state, theme)).unwrap();
    let all_known = started.elapsed();
    let unknown = state
        .instances
        .iter()
        .filter(|r| r.observed.status.to_string() == "unknown")
        .count();

    // 2. One frame of the results table at 100,000 rows.
    let before_load = peak_kib();
    let mut state = State::new(vec![], None, String::new());
    state.results = Some(Results::new(
        "bench".into(),
        "applied".into(),
        None,
        rows(100_000),
    ));
    state.screen = Screen::Results;
    let after_load = peak_kib();
    let mut ours = vec![];
    for i in 0..50 {
        state.results.as_mut().unwrap().selected = i * 1_999;
        let t = Instant::now();
        terminal.draw(|f| view(f, &state, theme)).unwrap();
        ours.push(t.elapsed());
    }
    let all_rows = rows(100_000);
    let mut naive = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        terminal
            .draw(|f| {
                let table = Table::new(
                    all_rows.iter().map(|r| {
                        Row::new(vec![
                            r.qualified_name(),
                            r.source_value.unwrap_or(0).to_string(),
                            r.destination_before.unwrap_or(0).to_string(),
                            r.destination_after.unwrap_or(0).to_string(),
                            r.status.to_string(),
                        ])
                    }),
                    [ratatui::layout::Constraint::Fill(1); 5],
                );
                f.render_widget(table, f.area());
            })
            .unwrap();
        naive.push(t.elapsed());
    }
    let (ours, naive) = (median(ours), median(naive));

    println!(
        "seqsync TUI benchmark (2 cores, debug = {})",
        cfg!(debug_assertions)
    );
    println!(
        "  first frame, 200 instances (20 never answer): {:>8.2} ms   (waiting for every status: {:>7.0} ms, {:.0}× later; {unknown} unknown)",
        first_frame.as_secs_f64() * 1e3,
        all_known.as_secs_f64() * 1e3,
        all_known.as_secs_f64() / first_frame.as_secs_f64()
    );
    println!(
        "  one results frame at 100,000 rows, 120×40:    {:>8.3} ms   (building every row: {:>7.1} ms, {:.0}× slower)",
        ours.as_secs_f64() * 1e3,
        naive.as_secs_f64() * 1e3,
        naive.as_secs_f64() / ours.as_secs_f64()
    );
    println!(
        "  peak memory with 100,000 sequences loaded:   {:>8.1} MB   (before loading: {:.1} MB)",
        after_load as f64 / 1024.0,
        before_load as f64 / 1024.0
    );
    drop(silent);
    let _ = std::fs::remove_dir_all(dir);
}
