//! Keep Sequences Ahead (`seqsync watch`): the sync, repeated every interval for as long as the
//! task's prerequisites hold. A one-shot sync is a snapshot that every later write eats into;
//! a watch re-reads both sides each round and applies, all or nothing and never lowering,
//! exactly what a sync with the round's offsets would apply. Only what moved is written: an idle
//! round reads both sides and writes nothing (no `setval`, no journal line).
//!
//! How it ends: the prerequisites stop holding (the task left the incremental phase, finished,
//! failed or turned out two-way) → `Refused`; the operator asks (`stop`) → `Ok` after the
//! current round, never inside one; failures after a first good round (lost connections, a
//! lock timeout, a rolled-back round) are retried with backoff until they have lasted
//! `give_up_after` → `Failed` (a first round that fails ends the watch at once); a round
//! whose rollback could not restore everything → `RollbackIncomplete`, at once. A killed watch
//! leaves at most one unfinished round, settled by the next start like a killed sync.

use super::context::{Context, Notice, Notify};
use super::recover::settle;
use super::status::observe_on;
use super::sync::{flag_behind, read_both_on, run_context, Outcome, Prepared, Read};
use super::target::Target;
use crate::engine::instance::{prerequisites, refusal, Observed, Status};
use crate::engine::model::{PlanRow, RawState, RowStatus, Sequence};
use crate::engine::plan::{plan_with_offsets, PlanOptions};
use crate::engine::postgres::PgSession;
use crate::engine::postgres::{quick_oids, quick_state, Fingerprint};
use crate::engine::saga::ApplyOptions;
use crate::engine::watch::{backoff, smallest, Headroom, Tracker};
use crate::engine::Error;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch::Receiver;

/// Time between rounds unless the config or the command line says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// How long rounds may keep failing before a watch gives up, unless asked otherwise.
pub const DEFAULT_GIVE_UP: Duration = Duration::from_secs(600);

/// How a watch runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchOptions {
    /// The offset floor (`options.offset`); a watch never lowers, so `allow_lower` is ignored.
    pub plan: PlanOptions,
    /// Each sequence's offset covers this much of its peak write rate, when larger than the
    /// floor.
    pub horizon: Option<Duration>,
    pub interval: Duration,
    /// How long failures may last, round after round, before the watch gives up.
    pub give_up_after: Duration,
    pub batch_size: usize,
}

/// One sequence as a round left it.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The round's plan row; `destination_after` is read back where the round applied.
    pub row: PlanRow,
    /// The offset this round used for it.
    pub offset: i64,
    /// Peak ids per second seen so far.
    pub rate: Option<f64>,
    pub headroom: Option<Headroom>,
    /// The round in which its source value last moved.
    pub changed_in: Option<u64>,
}

/// What one round did.
#[derive(Debug, Clone)]
pub struct Round {
    pub number: u64,
    pub at: SystemTime,
    /// How long the round took, from reading both sides to the read-back.
    pub took: Duration,
    /// Source sequences read.
    pub read: usize,
    /// Whether both sides were read in full; false for an idle round that found, by a quick
    /// read, exactly what the last full round read.
    pub full: bool,
    /// Source sequences that moved since the previous round.
    pub changed: usize,
    /// Destination sequences set.
    pub applied: usize,
    /// The journaled run, when the round applied (undoable like any other).
    pub run_id: Option<String>,
    pub sequences: Vec<Watched>,
    /// Refused rows that are new, or refused differently, since they were last reported.
    pub refusals: Vec<PlanRow>,
    /// The task's status and phase this round (None for an ad-hoc pair).
    pub observed: Option<Observed>,
}

impl Round {
    /// The tightest headroom of the round.
    pub fn smallest_headroom(&self) -> Option<&Headroom> {
        smallest(self.sequences.iter().filter_map(|w| w.headroom.as_ref()))
    }
}

/// What the operator hears while a watch runs.
#[derive(Debug, Clone)]
pub enum Event {
    Round(Box<Round>),
    /// A round failed and changed nothing; the next try is in `retry_in`.
    Trouble {
        round: u64,
        error: String,
        retry_in: Duration,
        /// How long rounds have been failing.
        failing_for: Duration,
    },
}

/// Why a round did not complete.
pub(super) enum Stop {
    /// Try again later.
    Retry(Error),
    /// End the watch with this error.
    End(Error),
}

/// Runs rounds until `stop` says so (then `Ok` with the number of rounds), or until the task's
/// prerequisites fail or failures outlast `give_up_after` (`Err`). `cancel` rolls back the
/// round being applied (a second Ctrl-C).
pub async fn watch(
    ctx: &Context,
    target: &Target,
    options: WatchOptions,
    notify: Notify<'_>,
    report: &(dyn Fn(Event) + Sync),
    stop: &mut Receiver<bool>,
    cancel: &AtomicBool,
) -> Result<u64, Error> {
    settle(ctx, &target.destination, notify).await?;
    let began = Instant::now();
    let mut tracker = Tracker::default();
    let mut kept = Kept::default();
    let mut failing_since: Option<Instant> = None;
    let mut failures = 0u32;
    let mut number = 0u64;
    let mut completed = 0u64;
    loop {
        if *stop.borrow() {
            return Ok(number);
        }
        number += 1;
        // Refused before any round ran is "not available", as for a sync.
        let what = if number == 1 {
            "is not available"
        } else {
            "stopped"
        };
        let outcome = match qualify(ctx, target, Some(what), &kept).await {
            Ok(observed) => {
                let state = RoundState {
                    tracker: &mut tracker,
                    kept: &mut kept,
                    number,
                    began,
                };
                round(ctx, target, &options, state, observed, notify, cancel).await
            }
            Err(stop) => Err(stop),
        };
        let wait = match outcome {
            Ok(done) => {
                completed += 1;
                failures = 0;
                failing_since = None;
                report(Event::Round(Box::new(done)));
                options.interval
            }
            Err(Stop::End(e)) => return Err(e),
            // Nothing to lose yet: a first round that fails is a wrong URL or password, not a
            // lost connection, and waiting would only hide it.
            Err(Stop::Retry(e)) if completed == 0 => return Err(e),
            Err(Stop::Retry(e)) => {
                failures += 1;
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= options.give_up_after {
                    return Err(Error::failed(format!(
                        "rounds have failed for {} (--give-up-after); the last: {}",
                        humantime::format_duration(round_secs(since.elapsed())),
                        e.message
                    )));
                }
                crate::log::line("WARN", &format!("watch round {number}: {}", e.message));
                let retry_in = backoff(failures, options.interval);
                report(Event::Trouble {
                    round: number,
                    error: e.message,
                    retry_in,
                    failing_for: since.elapsed(),
                });
                retry_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = stop.changed() => {
                // A dropped sender can never ask again: stop as if it had.
                if changed.is_err() {
                    return Ok(number);
                }
            }
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// Whether the task still qualifies for a round: its status and phase (None for an ad-hoc
/// pair), or why not. A status that cannot be read is a lost connection (retried), not a
/// finished task.
/// `what` words a refusal as "Keep Sequences Ahead {what} for instance …: reason"; without it
/// the reason is said alone (the guard names the instance itself).
/// The status is read through the round's kept sessions, so a round opens no connection of
/// its own while they last.
pub(super) async fn qualify(
    ctx: &Context,
    target: &Target,
    what: Option<&str>,
    kept: &Kept,
) -> Result<Option<Observed>, Stop> {
    let Some(instance) = &target.instance else {
        return Ok(None);
    };
    let open = crate::engine::detect::Open {
        source: kept.source.as_ref(),
        destination: kept.destination.as_ref(),
    };
    let observed = observe_on(instance, &ctx.timeouts, open).await;
    if let Some(reason) = refusal(&prerequisites(instance, &observed)) {
        let error = Error::refused(match what {
            Some(what) => format!(
                "Keep Sequences Ahead {what} for instance {}: {reason}",
                instance.id
            ),
            None => reason,
        });
        return Err(if observed.status == Status::Unknown {
            Stop::Retry(error.as_kind(crate::engine::ErrorKind::Failed))
        } else {
            Stop::End(error)
        });
    }
    Ok(Some(observed))
}

/// Sessions a watch keeps from round to round, so that an idle round costs the two reads on
/// open connections (whose backends have every sequence cached), not two new connections.
/// A session that fails is dropped, and the next round connects again.
#[derive(Default)]
pub(super) struct Kept {
    pub source: Option<PgSession>,
    pub destination: Option<PgSession>,
    /// The last full round, when it applied nothing: what an idle round compares with.
    pub idle: Option<Box<IdleRound>>,
}

/// Full rounds at least this often, whatever the fingerprints say (see `postgres::idle`).
const FULL_EVERY: u64 = 10;

/// The last full round, when it applied nothing: an idle round whose quick reads of both sides
/// find exactly what it read has the same plan, and returns its sequences.
pub(super) struct IdleRound {
    full_at: u64,
    source_print: Fingerprint,
    destination_print: Fingerprint,
    source: Vec<Sequence>,
    source_oids: Vec<u32>,
    source_states: Vec<Option<RawState>>,
    destination_oids: Vec<u32>,
    destination_states: Vec<Option<RawState>>,
    sequences: Vec<Watched>,
}

fn quick_states_of(sequences: &[Sequence], exact: bool) -> Vec<Option<RawState>> {
    sequences
        .iter()
        .filter(|s| s.can_read && s.unavailable().is_none() && s.last_value.is_some())
        .map(|s| quick_state(s, exact))
        .collect()
}

/// Whether both sides, read quickly on the kept sessions, are exactly what the last full
/// round read (its catalogues and every value). Any doubt (no such round, a session gone, a
/// full round due, a read that fails) is a no: the round reads in full.
async fn unchanged(kept: &Kept, number: u64) -> bool {
    let Some(idle) = kept.idle.as_ref() else {
        return false;
    };
    if number.saturating_sub(idle.full_at) >= FULL_EVERY {
        return false;
    }
    let open = |s: &&crate::engine::postgres::PgSession| s.is_open();
    let (Some(source), Some(destination)) = (
        kept.source.as_ref().filter(open),
        kept.destination.as_ref().filter(open),
    ) else {
        return false;
    };
    let (source_print, source_states, destination_print, destination_states) = tokio::join!(
        source.fingerprint(),
        source.quick_states(&idle.source_oids),
        destination.fingerprint(),
        destination.quick_states(&idle.destination_oids)
    );
    source_print.is_ok_and(|p| p == idle.source_print)
        && destination_print.is_ok_and(|p| p == idle.destination_print)
        && source_states.is_ok_and(|s| s == idle.source_states)
        && destination_states.is_ok_and(|s| s == idle.destination_states)
}

/// What a watch carries from round to round.
pub(super) struct RoundState<'a> {
    pub tracker: &'a mut Tracker,
    /// The sessions kept open between rounds.
    pub kept: &'a mut Kept,
    pub number: u64,
    /// When the watch began: rates are measured from it.
    pub began: Instant,
}

/// One round on a task that qualified (`observed`): read both sides, plan with each
/// sequence's offset, apply what moved, all or nothing.
pub(super) async fn round(
    ctx: &Context,
    target: &Target,
    options: &WatchOptions,
    state: RoundState<'_>,
    observed: Option<Observed>,
    notify: Notify<'_>,
    cancel: &AtomicBool,
) -> Result<Round, Stop> {
    let RoundState {
        tracker,
        kept,
        number,
        began,
    } = state;
    let started = Instant::now();
    let at = SystemTime::now();
    if unchanged(kept, number).await {
        let idle = kept.idle.as_ref().expect("checked by unchanged");
        tracker.observe_unchanged(began.elapsed());
        return Ok(Round {
            number,
            at,
            took: started.elapsed(),
            read: idle.source.len(),
            full: false,
            changed: 0,
            applied: 0,
            run_id: None,
            sequences: idle.sequences.clone(),
            refusals: vec![],
            observed,
        });
    }
    kept.idle = None;
    let sessions = (kept.source.take(), kept.destination.take());
    let (
        Read {
            session,
            source,
            destination,
            fingerprints,
        },
        source_session,
    ) = read_both_on(target, &ctx.timeouts, sessions, true)
        .await
        .map_err(Stop::Retry)?;
    kept.source = source_session;
    let changed = tracker.observe(number, began.elapsed(), &source);
    let floor = options.plan.offset;
    let plan_options = PlanOptions {
        allow_lower: false,
        ..options.plan
    };
    let offset_of =
        |schema: &str, name: &str| tracker.offset_for(schema, name, floor, options.horizon);
    let planned = plan_with_offsets(&source, &destination, plan_options, &|s| {
        offset_of(&s.schema, &s.name)
    });
    let mut rows = target.selection.apply(&planned);
    let offsets: Vec<i64> = rows
        .iter()
        .map(|r| {
            r.source_names()
                .map_or(floor, |(schema, name)| offset_of(schema, name))
                .get()
        })
        .collect();
    flag_behind(&session, &mut rows, &destination, plan_options, |r| {
        r.status == RowStatus::Update
    })
    .await;
    let refusals = tracker
        .refusals_to_report(&rows)
        .into_iter()
        .cloned()
        .collect();
    let changes: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].status == RowStatus::Update)
        .collect();
    let mut run_id = None;
    if changes.is_empty() {
        // Idle: the session goes back for the next round. An applying round's session leaves
        // with its run (it holds the applier lock until it closes).
        kept.destination = Some(session);
    } else {
        // Only the rows that change are journaled: a watch's runs stay small.
        let context = run_context(target, plan_options);
        let changing: Vec<PlanRow> = changes.iter().map(|&i| rows[i].clone()).collect();
        let mut prepared = Prepared::new(
            context,
            changing,
            &target.destination,
            session,
            &ctx.timeouts,
        );
        prepared
            .journal_plan(&ctx.journal, &format!("watch round {number}"))
            .map_err(Stop::Retry)?;
        let apply_options = ApplyOptions {
            batch_size: options.batch_size,
            ..ApplyOptions::default()
        };
        let (outcome, journal_error) = prepared
            .execute(&ctx.journal, &apply_options, &|_| {}, cancel)
            .await
            .map_err(Stop::Retry)?;
        if let Some(e) = journal_error {
            notify(Notice::warning(e));
        }
        match outcome {
            Outcome::Applied | Outcome::NothingToDo => {}
            Outcome::RolledBack(m) => {
                return Err(Stop::Retry(Error::failed(format!(
                    "{m} (run {})",
                    prepared.context.run_id
                ))))
            }
            Outcome::Incomplete(m) => {
                return Err(Stop::End(Error::rollback_incomplete(format!(
                    "{m} (run {})",
                    prepared.context.run_id
                ))))
            }
        }
        for (&i, done) in changes.iter().zip(prepared.rows) {
            rows[i] = done;
        }
        run_id = Some(prepared.context.run_id);
    }
    let applied = rows
        .iter()
        .filter(|r| r.status == RowStatus::Updated)
        .count();
    let mut headroom = tracker.headroom(&rows).into_iter().peekable();
    let sequences = rows
        .into_iter()
        .zip(offsets)
        .map(|(row, offset)| {
            let tracked = tracker.source_of(&row);
            let own = headroom.next_if(|h| h.schema == row.schema && h.name == row.name);
            Watched {
                rate: tracked.and_then(|t| t.peak_rate),
                changed_in: tracked.and_then(|t| t.changed_in),
                headroom: own,
                offset,
                row,
            }
        })
        .collect::<Vec<Watched>>();
    let round = Round {
        number,
        at,
        took: started.elapsed(),
        read: source.len(),
        full: true,
        changed,
        applied,
        run_id,
        sequences,
        refusals,
        observed,
    };
    if let (None, Some((Some(source_print), destination_print)), Some(exact)) = (
        &round.run_id,
        fingerprints,
        kept.destination.as_ref().map(|s| s.quick_is_exact()),
    ) {
        let source_exact = kept.source.as_ref().is_some_and(|s| s.quick_is_exact());
        kept.idle = Some(Box::new(IdleRound {
            full_at: number,
            source_print,
            destination_print,
            source_oids: quick_oids(&source),
            source_states: quick_states_of(&source, source_exact),
            destination_oids: quick_oids(&destination),
            destination_states: quick_states_of(&destination, exact),
            sequences: round.sequences.clone(),
            source,
        }));
    }
    Ok(round)
}
