//! The TUI's worker: carries `Effect`s to the engine's use cases on tokio tasks and their
//! answers back as `Response`s, with request ids. The UI never waits on one. No decision lives
//! here: what a plan checks, settles and journals is `engine::run`'s, as for the CLI.

use crate::app::msg::{Effect, ExportFormat, Response};
use crate::engine::dts::{DtsSettings, Overlay};
use crate::engine::journal::RunContext;
use crate::engine::plan::PlanOptions;
use crate::engine::run::{self, Context, Event, Notice, Prepared, WatchOptions};
use crate::engine::saga::{ApplyOptions, ApplyProgress};
use crate::engine::select::Choice;
use crate::engine::watch::suggested_offset;
use crate::report::{render_csv, render_json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub context: Context,
    /// How many instances are observed at once, in all and per server.
    pub observers: run::ObserveGate,
    /// `[dts]`, and what the config's entries add to its jobs.
    pub dts: Option<DtsSettings>,
    pub overlays: Vec<Overlay>,
}

#[derive(Default)]
struct Shared {
    plans: Mutex<HashMap<u64, Prepared>>,
    cancels: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    /// Running watches: setting one stops it after its round under way.
    watches: Mutex<HashMap<u64, tokio::sync::watch::Sender<bool>>>,
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

    /// Keeps a plan for its apply; the answer carries its rows to choose from and what was said
    /// on the way.
    fn planned(
        &self,
        request: u64,
        planned: Result<Prepared, crate::engine::Error>,
        notices: Vec<Notice>,
    ) -> Response {
        let result = planned.map_err(|e| e.message).map(|prepared| {
            let choice = Choice::new(
                prepared.planned().to_vec(),
                prepared.context.selection.clone(),
            );
            self.plans.lock().expect("plans").insert(request, prepared);
            choice
        });
        Response::Planned {
            request,
            result,
            notices,
        }
    }

    fn finished(&self, request: u64) {
        self.cancels.lock().expect("cancels").remove(&request);
    }
}

/// Notices collected while a use case runs, for the response that ends it.
#[derive(Default)]
struct Collected(Mutex<Vec<Notice>>);

impl Collected {
    fn notify(&self, notice: Notice) {
        self.0.lock().expect("notices").push(notice);
    }

    fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().expect("notices"))
    }
}

pub fn spawn(config: WorkerConfig) -> (UnboundedSender<Effect>, UnboundedReceiver<Response>) {
    let (requests, mut incoming) = unbounded_channel::<Effect>();
    let (outgoing, responses) = unbounded_channel::<Response>();
    tokio::spawn(async move {
        let shared = Arc::new(Shared::default());
        while let Some(effect) = incoming.recv().await {
            let out = outgoing.clone();
            let ctx = config.context.clone();
            let shared = shared.clone();
            match effect {
                Effect::Discover => {
                    let (dts, overlays) = (config.dts.clone(), config.overlays.clone());
                    tokio::spawn(async move {
                        let sources = run::Sources {
                            configured: &[],
                            dts: dts.as_ref(),
                            overlays: &overlays,
                        };
                        let listing = run::discover(sources, &ctx.timeouts).await;
                        let problems = listing.said();
                        let _ = out.send(Response::Discovered {
                            found: listing.found,
                            problems,
                        });
                    });
                }
                Effect::Observe { index, instance } => {
                    let observers = config.observers.clone();
                    tokio::spawn(async move {
                        let observed =
                            run::observe_through(&observers, &instance, &ctx.timeouts).await;
                        let _ = out.send(Response::Observed { index, observed });
                    });
                }
                Effect::Count { index, instance } => {
                    tokio::spawn(async move {
                        let result = run::count(&instance, &ctx.timeouts)
                            .await
                            .map_err(|e| e.message);
                        let _ = out.send(Response::Counted { index, result });
                    });
                }
                Effect::CheckData { index, instance } => {
                    tokio::spawn(async move {
                        let result = run::behind_data(&ctx, &instance)
                            .await
                            .map_err(|e| e.message);
                        let _ = out.send(Response::DataChecked { index, result });
                    });
                }
                Effect::Plan {
                    request,
                    instance,
                    offset,
                } => {
                    tokio::spawn(async move {
                        let notices = Collected::default();
                        let notify = |n| notices.notify(n);
                        let options = PlanOptions {
                            offset,
                            allow_lower: false,
                            scan_unindexed: false,
                        };
                        let planned = match run::resolve(&instance, &notify) {
                            Ok(target) => run::plan(&ctx, &target, options, &notify).await,
                            Err(e) => Err(e),
                        };
                        let _ = out.send(shared.planned(request, planned, notices.take()));
                    });
                }
                Effect::Repair {
                    request,
                    instance,
                    margin,
                    offset,
                } => {
                    tokio::spawn(async move {
                        let notices = Collected::default();
                        let notify = |n| notices.notify(n);
                        let options = run::RepairOptions {
                            margin,
                            offset,
                            scan_unindexed: false,
                        };
                        let planned = match run::repair_target(&instance, &notify) {
                            Ok(target) => run::repair(&ctx, &target, options, &notify).await,
                            Err(e) => Err(e),
                        };
                        let _ = out.send(shared.planned(request, planned, notices.take()));
                    });
                }
                Effect::Apply { request, selection } => {
                    let prepared = shared.plans.lock().expect("plans").remove(&request);
                    let cancel = shared.cancellable(request);
                    tokio::spawn(async move {
                        let response = match prepared {
                            None => Response::ApplyRefused {
                                request,
                                error: "the plan is gone; plan again".to_string(),
                            },
                            Some(mut prepared) => {
                                prepared.choose(selection);
                                let options = ApplyOptions {
                                    batch_size: ctx.batch_size,
                                    ..ApplyOptions::default()
                                };
                                apply(request, prepared, &options, &ctx, &out, &cancel).await
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
                        let notices = Collected::default();
                        let planned = run::undo(
                            &ctx,
                            &run_id,
                            std::slice::from_ref(&*instance),
                            None,
                            &|n| notices.notify(n),
                        )
                        .await;
                        let response = match planned {
                            Err(e) => Response::ApplyRefused {
                                request,
                                error: with_notices(notices.take(), e.message),
                            },
                            Ok(prepared) => {
                                let options = run::undo_options(ctx.batch_size);
                                apply(request, prepared, &options, &ctx, &out, &cancel).await
                            }
                        };
                        shared.finished(request);
                        let _ = out.send(response);
                    });
                }
                Effect::Recover { instances } => {
                    tokio::spawn(async move {
                        let notices = Collected::default();
                        let result =
                            run::recover(&ctx, &instances, None, &|n| notices.notify(n)).await;
                        let notices = notices.take();
                        let trouble = match result {
                            Ok(report) => !report.clean,
                            Err(_) => true,
                        };
                        let _ = out.send(Response::Recovered {
                            messages: notices.into_iter().map(|n| n.text).collect(),
                            trouble,
                        });
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
                    tokio::task::spawn_blocking(move || {
                        let result = run::history(&ctx, &instance_id, run::HISTORY_RUNS)
                            .map_err(|e| e.message);
                        let _ = out.send(Response::History { index, result });
                    });
                }
                Effect::Watch {
                    request,
                    instance,
                    offset,
                    interval,
                } => {
                    let (stop_sender, mut stop) = tokio::sync::watch::channel(false);
                    shared
                        .watches
                        .lock()
                        .expect("watches")
                        .insert(request, stop_sender);
                    tokio::spawn(async move {
                        let notices = Collected::default();
                        let notify = |n| notices.notify(n);
                        let options = WatchOptions {
                            plan: PlanOptions {
                                offset,
                                allow_lower: false,
                                scan_unindexed: false,
                            },
                            horizon: None,
                            interval,
                            give_up_after: run::DEFAULT_GIVE_UP,
                            batch_size: ctx.batch_size,
                        };
                        let report = |event| {
                            let _ = out.send(match event {
                                Event::Round(round) => Response::WatchRound { request, round },
                                Event::Trouble { error, .. } => {
                                    Response::WatchTrouble { request, error }
                                }
                            });
                        };
                        let never = AtomicBool::new(false);
                        let result = match run::resolve(&instance, &notify) {
                            Ok(target) => {
                                run::watch(
                                    &ctx, &target, options, &notify, &report, &mut stop, &never,
                                )
                                .await
                            }
                            Err(e) => Err(e),
                        };
                        shared.watches.lock().expect("watches").remove(&request);
                        let result = result.map_err(|e| with_notices(notices.take(), e.message));
                        let _ = out.send(Response::WatchEnded { request, result });
                    });
                }
                Effect::StopWatch { request } => {
                    if let Some(stop) = shared.watches.lock().expect("watches").get(&request) {
                        let _ = stop.send(true);
                    }
                }
                Effect::Rates { request, instance } => {
                    tokio::spawn(async move {
                        let result = match run::resolve(&instance, &|_| {}) {
                            Ok(target) => run::rates(
                                &target.source,
                                run::DEFAULT_SAMPLE,
                                run::DEFAULT_HORIZON,
                                &ctx.timeouts,
                            )
                            .await
                            .map(|advice| suggested_offset(&advice)),
                            Err(e) => Err(e),
                        };
                        let result = result.map_err(|e| e.message);
                        let _ = out.send(Response::Rated { request, result });
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
                                    margin: None,
                                    backend: None,
                                    selection: Default::default(),
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

/// An error led by what the operator should know first (a run settled on the way).
fn with_notices(notices: Vec<Notice>, error: String) -> String {
    notices
        .into_iter()
        .map(|n| n.text)
        .chain(std::iter::once(error))
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn apply(
    request: u64,
    mut prepared: Prepared,
    options: &ApplyOptions,
    ctx: &Context,
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
    match prepared
        .execute(&ctx.journal, options, &progress, cancel)
        .await
    {
        Err(error) => Response::ApplyRefused {
            request,
            error: error.message,
        },
        Ok((outcome, journal_error)) => {
            let error = match outcome.error() {
                Some(e) => Some(e.message),
                None => journal_error.map(|e| format!("applied, but {e}")),
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
