//! `seqsync` alone: the terminal UI over the configured instances.

use super::exit::Done;
use super::global::{setup, Global};
use crate::config;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use std::io::IsTerminal;

pub async fn run(cli: &Global) -> Result<Done, Error> {
    let batch_size = std::env::var("SEQSYNC_APPLY_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_APPLY_BATCH);
    let (settings, context) = setup(cli, batch_size)?;
    if !std::io::stdout().is_terminal() {
        return Err(Error::usage(
            "the terminal UI needs a terminal; for scripts use `seqsync plan` or `seqsync sync` (see --help)",
        ));
    }
    let config_note = match &settings.file {
        Some(f) => format!("Config: {}.", f.display()),
        None => format!(
            "No config file found (looked in {}). Write one with `seqsync example-config > seqsync.toml` (q quits).",
            config::search_paths_text()
        ),
    };
    let mut state =
        crate::app::state::State::new(settings.instances.clone(), settings.offset, config_note);
    state.discovers = settings.dts.is_some();
    state.watch_interval = settings.watch_interval;
    let worker = crate::worker::WorkerConfig {
        context,
        observers: crate::engine::run::ObserveGate::default(),
        dts: settings.dts.clone(),
        overlays: settings.overlays.clone(),
    };
    crate::log::line(
        "INFO",
        &format!("tui started with {} instance(s)", settings.instances.len()),
    );
    crate::tui::run(state, worker)
        .await
        .map(|()| Done::Complete)
        .map_err(|e| Error::failed(format!("terminal error: {e}")))
}
