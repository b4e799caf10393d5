//! The guard (`seqsync watch --all`): Keep Sequences Ahead on every instance whose task is in its
//! incremental phase, for as long as the process runs. Instances come from the config and from
//! DTS, listed again every `relist_every`; each gets its own loop, so one that is slow or never
//! answers delays no other (rounds wait only for a permit, `max_concurrent` at once). A task
//! that stops qualifying is no longer guarded and is guarded again when it qualifies; the
//! process never exits for that, nor for failures, which are retried with backoff.
//!
//! Two replicas may guard the same instances: each instance has a guard lock on its
//! destination (`postgres::GuardLease`). The replica holding it runs the rounds; the other is
//! standby and tries again every interval, so it takes over within one interval of the active
//! one's session ending. Applies stay serialized by the applier lock either way, and a round
//! never lowers a sequence, so two replicas at once could not re-issue an id.

use super::context::{Context, Notice};
use super::instances::{enumerate, Sources};
use super::recover::settle;

use super::target::{resolve, Target};
use super::watch::{qualify, round, Kept, Round, RoundState, Stop, WatchOptions};
use crate::engine::dts::{DtsSettings, Overlay};
use crate::engine::instance::{Instance, Observed};
use crate::engine::offset::Offset;
use crate::engine::postgres::{GuardLease, Role};
use crate::engine::watch::{backoff, Tracker};
use crate::engine::ErrorKind;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch::Receiver;
use tokio::sync::Semaphore;

/// What a config entry sets for its instance's guarding; unset ones come from the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceWatch {
    pub offset: Option<Offset>,
    pub horizon: Option<Duration>,
    pub interval: Option<Duration>,
}

/// What to guard: replaced as a whole when the config is read again.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub configured: Vec<Instance>,
    pub dts: Option<DtsSettings>,
    pub overlays: Vec<Overlay>,
    /// Every instance's options unless its entry in `own` says otherwise.
    pub defaults: WatchOptions,
    pub own: HashMap<String, InstanceWatch>,
}

impl Fleet {
    /// The options an instance is guarded with.
    pub fn options_for(&self, id: &str) -> WatchOptions {
        let mut options = self.defaults;
        if let Some(own) = self.own.get(id) {
            if let Some(offset) = own.offset {
                options.plan.offset = offset;
            }
            options.horizon = own.horizon.or(options.horizon);
            options.interval = own.interval.unwrap_or(options.interval);
        }
        options
    }
}

/// How the guard as a whole runs.
#[derive(Debug, Clone, Copy)]
pub struct GuardOptions {
    /// How often instances are listed again (new DTS jobs, new config entries).
    pub relist_every: Duration,
    /// Rounds running at once, across instances.
    pub max_concurrent: usize,
}

/// What the guard tells its front end: the log and the metrics are built from these alone.
#[derive(Debug, Clone)]
pub enum GuardEvent {
    /// Instances were listed; `unanswered` says where DTS could not be asked.
    Listed {
        instances: usize,
        unanswered: Vec<String>,
    },
    /// The instance's task qualifies: it is guarded (by this replica or the other).
    Guarding {
        instance: String,
    },
    /// The instance is not guarded, and why (its task left the incremental phase, say).
    Idle {
        instance: String,
        reason: String,
    },
    /// This replica became active or standby for the instance.
    Role {
        instance: String,
        role: Role,
    },
    Round {
        instance: String,
        round: Box<Round>,
    },
    /// A round (or the status check before it) failed and changed nothing.
    Trouble {
        instance: String,
        error: String,
        retry_in: Duration,
        failing_for: Duration,
    },
    /// The instance is no longer listed (or its config changed): its loop has ended.
    Removed {
        instance: String,
    },
    /// Something the operator should know (a settled run, a warning).
    Notice {
        instance: String,
        notice: Notice,
    },
}

/// Where guard events go; called from every instance's loop.
pub type Report = Arc<dyn Fn(GuardEvent) + Send + Sync>;

struct Guarded {
    instance: Instance,
    options: WatchOptions,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Guards the fleet until `stop` says so; a changed `fleet` is applied at once: unchanged
/// instances keep their loop (and their rates), changed ones restart, removed ones stop.
/// `cancel` rolls back the rounds being applied (a second signal).
pub async fn guard(
    ctx: &Context,
    mut fleet: Receiver<Arc<Fleet>>,
    options: GuardOptions,
    report: Report,
    mut stop: Receiver<bool>,
    cancel: Arc<AtomicBool>,
) {
    let permits = Arc::new(Semaphore::new(options.max_concurrent.max(1)));
    let mut guarded: HashMap<String, Guarded> = HashMap::new();
    loop {
        let current = fleet.borrow_and_update().clone();
        let sources = Sources {
            configured: &current.configured,
            dts: current.dts.as_ref(),
            overlays: &current.overlays,
        };
        let (instances, unanswered) = enumerate(sources, &ctx.timeouts).await;
        let unanswered: Vec<String> = unanswered.iter().map(|u| u.to_string()).collect();
        report(GuardEvent::Listed {
            instances: instances.len(),
            unanswered: unanswered.clone(),
        });
        let wanted: HashMap<String, Instance> = instances
            .into_iter()
            .map(|instance| (instance.id.clone(), instance))
            .collect();
        // A DTS that did not answer is no reason to stop guarding its jobs.
        let complete = unanswered.is_empty();
        let ids: Vec<String> = guarded.keys().cloned().collect();
        for id in ids {
            let keep = match wanted.get(&id) {
                Some(instance) => {
                    let g = &guarded[&id];
                    g.instance == *instance && g.options == current.options_for(&id)
                }
                None => !complete,
            };
            if !keep {
                let g = guarded.remove(&id).expect("listed above");
                end(g).await;
                report(GuardEvent::Removed { instance: id });
            }
        }
        for (id, instance) in wanted {
            if guarded.contains_key(&id) {
                continue;
            }
            let watch = current.options_for(&id);
            let (stop_one, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(guard_one(
                ctx.clone(),
                instance.clone(),
                watch,
                permits.clone(),
                report.clone(),
                stopped,
                cancel.clone(),
            ));
            guarded.insert(
                id,
                Guarded {
                    instance,
                    options: watch,
                    stop: stop_one,
                    task,
                },
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(options.relist_every) => {}
            changed = fleet.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    for (_, g) in guarded.drain() {
        end(g).await;
    }
}

/// Stops an instance's loop after its current round, never inside one.
async fn end(g: Guarded) {
    let _ = g.stop.send(true);
    let _ = g.task.await;
}

/// Whether the loop reported the instance as guarded or idle last, so each change is said once.
#[derive(PartialEq)]
enum Said {
    Nothing,
    Guarding,
    Idle(String),
}

/// One instance, round after round, until `stop`.
async fn guard_one(
    ctx: Context,
    instance: Instance,
    options: WatchOptions,
    permits: Arc<Semaphore>,
    report: Report,
    mut stop: Receiver<bool>,
    cancel: Arc<AtomicBool>,
) {
    let id = instance.id.clone();
    let notify_report = report.clone();
    let notify_id = id.clone();
    let notify = move |notice: Notice| {
        notify_report(GuardEvent::Notice {
            instance: notify_id.clone(),
            notice,
        })
    };
    let target = match resolve(&instance, &notify) {
        Ok(target) => target,
        Err(e) => {
            report(GuardEvent::Idle {
                instance: id,
                reason: e.message,
            });
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
    };
    let mut lease = GuardLease::new(&id);
    let mut tracker = Tracker::default();
    let mut kept = Kept::default();
    let began = Instant::now();
    let mut said = Said::Nothing;
    let mut role: Option<Role> = None;
    let mut number = 0u64;
    let mut failures = 0u32;
    let mut failing_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let step = {
            let _permit = permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            step(
                &ctx,
                &target,
                &options,
                &mut lease,
                RoundState {
                    tracker: &mut tracker,
                    kept: &mut kept,
                    number: number + 1,
                    began,
                },
                &notify,
                &cancel,
            )
            .await
        };
        if let Step::Standby(now) | Step::Ran(now, _) = &step {
            if role.as_ref() != Some(now) {
                role = Some(now.clone());
                announce(&report, &id, &mut said);
                report(GuardEvent::Role {
                    instance: id.clone(),
                    role: now.clone(),
                });
            }
        }
        if matches!(step, Step::Idle(_) | Step::Standby(_)) {
            // Rounds are not this replica's to run: no connections held for them.
            kept = Kept::default();
        }
        let wait = match step {
            Step::Idle(reason) => {
                lease.release();
                role = None;
                if said != Said::Idle(reason.clone()) {
                    said = Said::Idle(reason.clone());
                    report(GuardEvent::Idle {
                        instance: id.clone(),
                        reason,
                    });
                }
                options.interval
            }
            Step::Standby(_) => {
                failures = 0;
                failing_since = None;
                options.interval
            }
            Step::Ran(_, done) => {
                number += 1;
                failures = 0;
                failing_since = None;
                report(GuardEvent::Round {
                    instance: id.clone(),
                    round: done,
                });
                options.interval
            }
            Step::Failed(error) => {
                failures += 1;
                let since = *failing_since.get_or_insert_with(Instant::now);
                let retry_in = backoff(failures, options.interval);
                report(GuardEvent::Trouble {
                    instance: id.clone(),
                    error,
                    retry_in,
                    failing_for: since.elapsed(),
                });
                retry_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    lease.release();
}

fn announce(report: &Report, id: &str, said: &mut Said) {
    if *said != Said::Guarding {
        *said = Said::Guarding;
        report(GuardEvent::Guarding {
            instance: id.to_string(),
        });
    }
}

/// What one step of an instance's loop came to.
enum Step {
    /// The task does not qualify (or the instance cannot be used): not guarded.
    Idle(String),
    /// Another replica is active.
    Standby(Role),
    /// This replica is active and the round ran.
    Ran(Role, Box<Round>),
    Failed(String),
}

async fn step(
    ctx: &Context,
    target: &Target,
    options: &WatchOptions,
    lease: &mut GuardLease,
    state: RoundState<'_>,
    notify: &(dyn Fn(Notice) + Sync),
    cancel: &AtomicBool,
) -> Step {
    // The status is read whatever the role, so a standby's metrics show the task too.
    let observed: Option<Observed> = match qualify(ctx, target, None, state.kept).await {
        Ok(observed) => observed,
        Err(Stop::End(e)) => return Step::Idle(e.message),
        Err(Stop::Retry(e)) => return Step::Failed(e.message),
    };
    let was_active = lease.is_held();
    let role = match lease.claim(&target.destination, &ctx.timeouts).await {
        Ok(role) => role,
        Err(e) => return Step::Failed(e.message),
    };
    if role != Role::Active {
        return Step::Standby(role);
    }
    if !was_active {
        // Newly active (a start, or a takeover): settle what this replica's journal holds
        // unfinished on the destination first. The other replica's runs are settled by its
        // own next start, from its own journal; meanwhile a round never lowers, so they are
        // only ever completed.
        if let Err(e) = settle(ctx, &target.destination, notify).await {
            lease.release();
            return Step::Failed(e.message);
        }
    }
    match round(ctx, target, options, state, observed, notify, cancel).await {
        Ok(done) => Step::Ran(Role::Active, Box::new(done)),
        Err(Stop::End(e)) if e.kind == ErrorKind::Refused => Step::Idle(e.message),
        // A rollback that could not restore everything: said, and tried again later.
        Err(Stop::End(e) | Stop::Retry(e)) => Step::Failed(e.message),
    }
}
