//! Settling runs a killed seqsync left unfinished, so that each ends applied in full or not at
//! all: before every plan and undo on a destination (both front ends), at the TUI's start, and
//! by `seqsync recover`.

use super::context::{Context, Level, Notice, Notify};
use super::target::{destination, AD_HOC};
use crate::engine::instance::{Endpoint, Instance};
use crate::engine::journal::{
    run_writer, unfinished, writer_alive, JournalEntry, JournalEvent, RunContext,
};
use crate::engine::model::RowStatus;
use crate::engine::postgres::{self, PgEndpoint};
use crate::engine::saga::ApplyOptions;
use crate::engine::saga::Recovery;
use crate::engine::Error;

/// A run a start found interrupted, and how it was settled.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub run_id: String,
    /// None when the run is still being applied by a live process.
    pub recovery: Option<Recovery>,
    /// One sentence for the operator.
    pub message: String,
}

/// Settles every run of the journal that was interrupted while applying to `destination`
/// (matched by its password-free display), so that each ends applied in full or not at all,
/// and journals how. Runs on other destinations are left for their own next start.
/// Each is also told to `notify` as it is settled.
pub async fn settle(
    ctx: &Context,
    destination: &PgEndpoint,
    notify: Notify<'_>,
) -> Result<Vec<Recovered>, Error> {
    let (journal, timeouts) = (&ctx.journal, &ctx.timeouts);
    let entries = journal.read_unfinished().map_err(Error::failed)?;
    let mut settled = vec![];
    for entry in unfinished(&entries)
        .into_iter()
        .filter(|e| e.destination == destination.display)
    {
        let mut rows = entry.rows.clone();
        if writer_alive(entry) {
            let message = format!(
                "run {} is being applied right now by process {} on this host; not touched",
                entry.run_id,
                run_writer(&entry.run_id).unwrap_or_default()
            );
            notify(Notice::warning(message.clone()));
            settled.push(Recovered {
                run_id: entry.run_id.clone(),
                recovery: None,
                message,
            });
            continue;
        }
        let locked: Vec<_> = entries
            .iter()
            .filter(|e| e.run_id == entry.run_id && e.event == JournalEvent::BatchLocked)
            .flat_map(|e| e.locked.iter().cloned())
            .collect();
        let recovery = postgres::recover(
            destination,
            timeouts,
            &ApplyOptions::default(),
            entry.backend.as_ref(),
            &locked,
            &mut rows,
        )
        .await
        .map_err(|e| {
            Error::failed(format!(
                "run {} was interrupted while applying and cannot be checked yet: {e}",
                entry.run_id
            ))
        })?;
        if matches!(recovery, Recovery::AppliedInFull { .. }) {
            for row in rows.iter_mut().filter(|r| r.status == RowStatus::Update) {
                row.status = RowStatus::Updated;
            }
        }
        let message = recovery_message(entry, &recovery);
        crate::log::line(
            if matches!(recovery, Recovery::Incomplete { .. }) {
                "ERROR"
            } else {
                "WARN"
            },
            &message,
        );
        journal
            .record(
                &RunContext::of(entry),
                JournalEvent::Recovered,
                &rows,
                &message,
                &[],
            )
            .map_err(Error::failed)?;
        notify(Notice {
            text: message.clone(),
            level: if matches!(recovery, Recovery::Incomplete { .. }) {
                Level::Trouble
            } else {
                Level::Settled
            },
        });
        settled.push(Recovered {
            run_id: entry.run_id.clone(),
            recovery: Some(recovery),
            message,
        });
    }
    Ok(settled)
}

/// What `recover` found across the journal.
#[derive(Debug, Clone, Default)]
pub struct RecoverReport {
    /// Runs found unfinished in the journal.
    pub unfinished: usize,
    /// Whether every one ended applied in full or not at all.
    pub clean: bool,
}

/// Settles every interrupted run of the journal, on every destination this caller can reach:
/// the run's configured instance, or `ad_hoc` when it names the same server and database.
/// Each outcome, and each run that cannot be reached, goes to `notify`.
pub async fn recover(
    ctx: &Context,
    instances: &[Instance],
    ad_hoc: Option<&Endpoint>,
    notify: Notify<'_>,
) -> Result<RecoverReport, Error> {
    let entries = ctx.journal.read_unfinished().map_err(Error::failed)?;
    let pending = unfinished(&entries);
    let mut report = RecoverReport {
        unfinished: pending.len(),
        clean: true,
    };
    let mut done: Vec<&str> = vec![];
    // Each failure is told to `notify` as it happens; the error only counts them.
    let mut unsettled = 0;
    for entry in pending {
        if done.contains(&entry.destination.as_str()) {
            continue;
        }
        done.push(&entry.destination);
        let reached = journaled_destination(instances, ad_hoc, &entry.instance, notify)
            .ok()
            .filter(|d| d.display == entry.destination);
        let Some(destination) = reached else {
            notify(Notice {
                text: format!(
                    "run {} on {} was interrupted and is not settled: run `seqsync recover --destination URL` with that server's URL",
                    entry.run_id, entry.destination
                ),
                level: Level::Trouble,
            });
            unsettled += 1;
            continue;
        };
        match settle(ctx, &destination, notify).await {
            Ok(settled) => {
                report.clean &= !settled
                    .iter()
                    .any(|r| matches!(r.recovery, Some(Recovery::Incomplete { .. })));
            }
            Err(e) => {
                notify(Notice {
                    text: e.message,
                    level: Level::Trouble,
                });
                unsettled += 1;
            }
        }
    }
    if unsettled > 0 && report.clean {
        return Err(Error::failed(format!(
            "{unsettled} destination(s) with interrupted runs are not settled yet"
        )));
    }
    Ok(report)
}

/// The destination of a journaled run: `ad_hoc` when given, else its instance's in the config.
pub fn journaled_destination(
    instances: &[Instance],
    ad_hoc: Option<&Endpoint>,
    instance_id: &str,
    notify: Notify<'_>,
) -> Result<PgEndpoint, Error> {
    if let Some(endpoint) = ad_hoc {
        return destination(endpoint, notify);
    }
    if instance_id == AD_HOC {
        return Err(Error::usage(
            "this run was not made for a configured instance: pass --destination URL",
        ));
    }
    let instance = instances
        .iter()
        .find(|i| i.id == instance_id)
        .ok_or_else(|| {
            Error::usage(format!(
                "the run's instance {instance_id} is not in the config: pass --destination URL"
            ))
        })?;
    destination(&instance.destination, notify)
}

/// The outcome first: on a narrow screen the start of the sentence is what shows.
fn recovery_message(entry: &JournalEntry, recovery: &Recovery) -> String {
    let run = &entry.run_id;
    let origin = format!(
        "(instance {}, started {} by {}@{})",
        entry.instance, entry.at, entry.user, entry.host
    );
    match recovery {
        Recovery::AppliedInFull { sequences } => format!(
            "interrupted run {run} was applied in full: it was killed after its last change, and all {sequences} sequence(s) hold their targets {origin}"
        ),
        Recovery::NotApplied { put_back: 0 } => format!(
            "interrupted run {run} was not applied: it was killed before any change took hold {origin}"
        ),
        Recovery::NotApplied { put_back } => format!(
            "interrupted run {run} was not applied: it was killed before any target took hold, and seqsync put {put_back} never-called sequence(s) its nextval() had read back to never called {origin}"
        ),
        Recovery::RolledBack { restored, of } => format!(
            "interrupted run {run} was not applied: it was killed part-way, after setting {restored} of {of} sequence(s), and seqsync restored them {origin}"
        ),
        Recovery::Incomplete {
            reason,
            not_restored,
        } => format!(
            "interrupted run {run} could not be settled: {reason}: {} sequence(s) keep its values: {} {origin}",
            not_restored.len(),
            abbreviated(not_restored)
        ),
    }
}

/// The first names of a long list, and how many more.
pub(super) fn abbreviated(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}
