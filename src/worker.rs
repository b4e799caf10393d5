//! The TUI's worker: every database and file operation, on tokio tasks, behind channels. The
//! UI sends `Effect`s and receives `Response`s; it never waits on one.

use crate::app::msg::{Effect, ExportFormat, Response};
use crate::app::state::Counts;
use crate::engine::detect;
use crate::engine::instance::{prerequisites, refusal, Instance, Observed};
use crate::engine::journal::{unfinished, Journal, JournalEvent, RunContext};
use crate::engine::plan::PlanOptions;
use crate::engine::postgres::{ApplyOptions, ApplyProgress, Recovery};
use crate::engine::run::{self, Prepared};
use crate::engine::Timeouts;
use crate::report::{render_csv, render_json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub timeouts: Timeouts,
    pub journal: PathBuf,
    pub batch_size: usize,
    /// Instances observed at once.
    pub concurrency: usize,
}

#[derive(Default)]
struct Shared {
    plans: Mutex<HashMap<u64, Prepared>>,
    cancels: Mutex<HashMap<u64, Arc<AtomicBool>>>,
}

impl Shared {
    /// The flag `Effect::Cancel` sets for this request while it runs.
    fn cancellable(&self, request: u64) -> Arc<AtomicBool> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels
            .lock()
            .expect("cancels")
            .insert(request, cancel.clone());
        cancel
    }

    fn finished(&self, request: u64) {
        self.cancels.lock().expect("cancels").remove(&request);
    }
}

pub fn spawn(config: WorkerConfig) -> (UnboundedSender<Effect>, UnboundedReceiver<Response>) {
    let (requests, mut incoming) = unbounded_channel::<Effect>();
    let (outgoing, responses) = unbounded_channel::<Response>();
    tokio::spawn(async move {
        let shared = Arc::new(Shared::default());
        let observers = Arc::new(Semaphore::new(config.concurrency.max(1)));
        while let Some(effect) = incoming.recv().await {
            let out = outgoing.clone();
            let config = config.clone();
            let shared = shared.clone();
            match effect {
                Effect::Observe { index, instance } => {
                    let observers = observers.clone();
                    tokio::spawn(async move {
                        let _permit = observers.acquire().await;
                        let observed = observe_within(&instance, &config.timeouts).await;
                        let _ = out.send(Response::Observed { index, observed });
                    });
                }
                Effect::Count { index, instance } => {
                    tokio::spawn(async move {
                        let result = count(&instance, &config.timeouts).await;
                        let _ = out.send(Response::Counted { index, result });
                    });
                }
                Effect::Plan {
                    request,
                    instance,
                    offset,
                } => {
                    tokio::spawn(async move {
                        let result = match prepare(&instance, offset, &config).await {
                            Ok(prepared) => {
                                let rows = prepared.rows.clone();
                                shared
                                    .plans
                                    .lock()
                                    .expect("plans")
                                    .insert(request, prepared);
                                Ok(rows)
                            }
                            Err(e) => Err(e),
                        };
                        let _ = out.send(Response::Planned { request, result });
                    });
                }
                Effect::Apply { request } => {
                    let prepared = shared.plans.lock().expect("plans").remove(&request);
                    let cancel = shared.cancellable(request);
                    tokio::spawn(async move {
                        let response = match prepared {
                            None => Response::ApplyRefused {
                                request,
                                error: "the plan is gone; plan again".to_string(),
                            },
                            Some(prepared) => {
                                let options = ApplyOptions {
                                    batch_size: config.batch_size,
                                    ..ApplyOptions::default()
                                };
                                apply(request, prepared, &options, &config, &out, &cancel).await
                            }
                        };
                        shared.finished(request);
                        let _ = out.send(response);
                    });
                }
                Effect::Undo {
                    request,
                    instance,
                    run_id,
                } => {
                    let cancel = shared.cancellable(request);
                    tokio::spawn(async move {
                        let response =
                            undo(request, &instance, &run_id, &config, &out, &cancel).await;
                        shared.finished(request);
                        let _ = out.send(response);
                    });
                }
                Effect::Recover { instances } => {
                    tokio::spawn(async move {
                        let _ = out.send(recover(&instances, &config).await);
                    });
                }
                Effect::Cancel { request } => {
                    if let Some(flag) = shared.cancels.lock().expect("cancels").get(&request) {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
                Effect::Discard { request } => {
                    shared.plans.lock().expect("plans").remove(&request);
                }
                Effect::History { index, instance_id } => {
                    let journal = Journal::new(config.journal.clone());
                    tokio::task::spawn_blocking(move || {
                        let result = journal.read_all().map(|entries| {
                            let mut runs: Vec<_> = entries
                                .into_iter()
                                .filter(|e| e.instance == instance_id)
                                .filter(|e| {
                                    !matches!(
                                        e.event,
                                        JournalEvent::ApplyStarted | JournalEvent::BatchLocked
                                    )
                                })
                                .collect();
                            runs.reverse();
                            runs
                        });
                        let _ = out.send(Response::History { index, result });
                    });
                }
                Effect::Export {
                    path,
                    format,
                    run_id,
                    instance_id,
                    rows,
                } => {
                    tokio::task::spawn_blocking(move || {
                        let text = match format {
                            ExportFormat::Csv => render_csv(&rows),
                            ExportFormat::Json => {
                                let context = RunContext {
                                    run_id,
                                    instance: instance_id,
                                    source: String::new(),
                                    destination: String::new(),
                                    offset: 0,
                                    allow_lower: false,
                                    undo_of: None,
                                    backend: None,
                                };
                                render_json(&context, &rows, "exported", None)
                            }
                        };
                        let result = std::fs::write(&path, text)
                            .map(|_| path.clone())
                            .map_err(|e| format!("{}: {e}", path.display()));
                        let _ = out.send(Response::Exported { result });
                    });
                }
            }
        }
    });
    (requests, responses)
}

async fn observe_within(instance: &Instance, timeouts: &Timeouts) -> Observed {
    detect::observe_within(
        instance,
        timeouts,
        timeouts.connect + Duration::from_secs(1),
    )
    .await
}

async fn count(instance: &Instance, timeouts: &Timeouts) -> Result<Counts, String> {
    let source = async {
        let endpoint = run::source_endpoint(&instance.source).map_err(|e| e.0)?;
        endpoint.count(timeouts).await.map_err(|e| e.0)
    };
    let (source, destination) = tokio::join!(
        source,
        count_side(&instance.destination, "destination", timeouts)
    );
    Ok(Counts {
        source: source?,
        destination: destination?,
    })
}

async fn count_side(
    endpoint: &crate::engine::instance::Endpoint,
    side: &str,
    timeouts: &Timeouts,
) -> Result<usize, String> {
    let endpoint = run::pg_endpoint(endpoint, side).map_err(|e| e.0)?;
    let session = endpoint.connect(timeouts).await.map_err(|e| e.0)?;
    session.count_sequences().await.map_err(|e| e.0)
}

/// Plans after checking the prerequisites again: the status may have changed since the list
/// was drawn.
async fn prepare(
    instance: &Instance,
    offset: i64,
    config: &WorkerConfig,
) -> Result<Prepared, String> {
    let observed = observe_within(instance, &config.timeouts).await;
    if let Some(reason) = refusal(&prerequisites(instance, &observed)) {
        return Err(format!("Synchronize Sequence is not available: {reason}"));
    }
    let source = run::source_endpoint(&instance.source).map_err(|e| e.0)?;
    let destination = run::pg_endpoint(&instance.destination, "destination").map_err(|e| e.0)?;
    let options = PlanOptions {
        offset,
        allow_lower: false,
        scan_unindexed: false,
    };
    let prepared = run::prepare(
        &source,
        &destination,
        &instance.id,
        options,
        &config.timeouts,
    )
    .await
    .map_err(|e| e.0)?;
    prepared
        .journal_plan(&Journal::new(config.journal.clone()))
        .map_err(|e| format!("{e}; nothing was changed"))?;
    Ok(prepared)
}

/// Settles the runs a killed seqsync left unfinished on the configured instances' destinations.
async fn recover(instances: &[Instance], config: &WorkerConfig) -> Response {
    let journal = Journal::new(config.journal.clone());
    let read = Journal::new(config.journal.clone());
    let entries = match tokio::task::spawn_blocking(move || read.read_unfinished()).await {
        Ok(Ok(entries)) => entries,
        Ok(Err(e)) => {
            return Response::Recovered {
                messages: vec![e],
                trouble: true,
            }
        }
        Err(e) => {
            return Response::Recovered {
                messages: vec![e.to_string()],
                trouble: true,
            }
        }
    };
    let mut messages = vec![];
    let mut trouble = false;
    let mut done: Vec<String> = vec![];
    for entry in unfinished(&entries) {
        if done.contains(&entry.destination) {
            continue;
        }
        done.push(entry.destination.clone());
        let destination = instances
            .iter()
            .filter(|i| i.id == entry.instance)
            .find_map(|i| run::pg_endpoint(&i.destination, "destination").ok())
            .filter(|d| d.display == entry.destination);
        let Some(destination) = destination else {
            messages.push(format!(
                "run {} on {} was interrupted and is not settled: run `seqsync recover --destination URL`",
                entry.run_id, entry.destination
            ));
            trouble = true;
            continue;
        };
        match run::recover_interrupted(&journal, &destination, &config.timeouts).await {
            Ok(settled) => {
                for r in settled {
                    trouble |= matches!(r.recovery, Some(Recovery::Incomplete { .. }));
                    messages.push(r.message);
                }
            }
            Err(e) => {
                trouble = true;
                messages.push(e.0);
            }
        }
    }
    Response::Recovered { messages, trouble }
}

async fn undo(
    request: u64,
    instance: &Instance,
    run_id: &str,
    config: &WorkerConfig,
    out: &UnboundedSender<Response>,
    cancel: &AtomicBool,
) -> Response {
    let refused = |error: String| Response::ApplyRefused { request, error };
    let destination = match run::pg_endpoint(&instance.destination, "destination") {
        Ok(d) => d,
        Err(e) => return refused(e.0),
    };
    let journal = Journal::new(config.journal.clone());
    match run::prepare_undo(&journal, run_id, &destination, &config.timeouts).await {
        Err(e) => refused(e.0),
        Ok(prepared) => {
            let options = run::undo_options(config.batch_size);
            apply(request, prepared, &options, config, out, cancel).await
        }
    }
}

async fn apply(
    request: u64,
    mut prepared: Prepared,
    options: &ApplyOptions,
    config: &WorkerConfig,
    out: &UnboundedSender<Response>,
    cancel: &AtomicBool,
) -> Response {
    let progress = |p: ApplyProgress| {
        let _ = out.send(Response::Progress {
            request,
            done: p.done,
            total: p.total,
        });
    };
    let journal = Journal::new(config.journal.clone());
    match prepared.execute(&journal, options, &progress, cancel).await {
        Err(error) => Response::ApplyRefused { request, error },
        Ok((outcome, journal_error)) => {
            let error = match &outcome {
                run::Outcome::RolledBack(m) | run::Outcome::Incomplete(m) => Some(m.clone()),
                _ => journal_error.map(|e| format!("applied, but {e}")),
            };
            Response::Applied {
                request,
                run_id: prepared.context.run_id.clone(),
                outcome: outcome.word().to_string(),
                error,
                rows: prepared.rows,
            }
        }
    }
}
