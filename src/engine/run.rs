//! One synchronization run, shared by the CLI and the TUI's worker: read both sides, plan,
//! journal, apply, journal again.

use super::instance::Endpoint;
use super::journal::{
    new_run_id, run_writer, unfinished, writer_alive, Journal, JournalEntry, JournalEvent,
    RunContext,
};
use super::model::{summarize, Engine, PlanRow, RowStatus};
use super::oracle::OracleEndpoint;
use super::plan::{flag_behind_data, plan, PlanOptions};
use super::postgres::{
    self, ApplyFailure, ApplyOptions, ApplyProgress, PgEndpoint, PgSession, Recovery,
};
use super::{EngineError, Timeouts};
use std::sync::atomic::AtomicBool;

/// A PostgreSQL-protocol endpoint for a configured one, with its password resolved; Oracle is
/// refused with a sentence saying so.
pub fn pg_endpoint(endpoint: &Endpoint, side: &str) -> Result<PgEndpoint, EngineError> {
    if endpoint.engine == Engine::Oracle {
        return Err(EngineError::new(format!(
            "the {side} engine 'oracle' is supported as a source only"
        )));
    }
    PgEndpoint::new(&endpoint.url, endpoint.password())
        .map_err(|e| EngineError::new(format!("{side}: {e}")))
}

/// Where source values are read: PostgreSQL protocol, or Oracle.
#[derive(Clone, Debug)]
pub enum SourceEndpoint {
    Pg(PgEndpoint),
    Oracle(OracleEndpoint),
}

impl SourceEndpoint {
    /// The source as it may be shown: never a password.
    pub fn display(&self) -> String {
        match self {
            SourceEndpoint::Pg(e) => e.display.clone(),
            SourceEndpoint::Oracle(e) => e.display(),
        }
    }

    /// How many sequences the source has (Oracle: by reading them).
    pub async fn count(&self, timeouts: &Timeouts) -> Result<usize, EngineError> {
        match self {
            SourceEndpoint::Pg(e) => e.connect(timeouts).await?.count_sequences().await,
            SourceEndpoint::Oracle(_) => Ok(self.read(timeouts).await?.len()),
        }
    }

    async fn read(&self, timeouts: &Timeouts) -> Result<Vec<super::model::Sequence>, EngineError> {
        match self {
            SourceEndpoint::Pg(e) => Ok(read(e, timeouts).await?.1),
            SourceEndpoint::Oracle(e) => {
                // The blocking driver has its own call timeout; this also bounds the connect.
                let limit = timeouts.connect + timeouts.statement;
                tokio::time::timeout(limit, e.read_sequences(timeouts))
                    .await
                    .map_err(|_| {
                        EngineError::new(format!(
                            "{}: no answer within {}",
                            e.display(),
                            humantime::format_duration(limit)
                        ))
                    })?
            }
        }
    }
}

/// The source endpoint of a configured (or ad-hoc) source. An Oracle URL may carry its user
/// as `user@//host:port/service`.
pub fn source_endpoint(endpoint: &Endpoint) -> Result<SourceEndpoint, EngineError> {
    if endpoint.engine != Engine::Oracle {
        return pg_endpoint(endpoint, "source").map(SourceEndpoint::Pg);
    }
    let (user, connect_string) = match (&endpoint.user, endpoint.url.split_once("@//")) {
        (Some(user), _) => (user.clone(), endpoint.url.clone()),
        (None, Some((user, rest))) => (user.to_string(), format!("//{rest}")),
        (None, None) => {
            return Err(EngineError::new(
                "source: an oracle source needs a user: set `user` in the config, or write user@//host:port/service",
            ))
        }
    };
    let mut oracle = OracleEndpoint::new(&connect_string, &user, endpoint.password());
    oracle.owners = endpoint.owners.clone();
    oracle.case = endpoint.name_case;
    oracle.schema_map = endpoint.schema_map.clone().into_iter().collect();
    Ok(SourceEndpoint::Oracle(oracle))
}

/// A plan, ready to be applied on the connection it was read on.
pub struct Prepared {
    pub context: RunContext,
    pub rows: Vec<PlanRow>,
    destination: PgEndpoint,
    session: Option<PgSession>,
    timeouts: Timeouts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    NothingToDo,
    Applied,
    /// Failed; nothing of this run remains in the destination.
    RolledBack(String),
    /// Failed, and some sequences could not be restored (the message lists them).
    Incomplete(String),
}

impl Outcome {
    /// The word used in JSON output and on screen.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::NothingToDo => "nothing-to-do",
            Outcome::Applied => "applied",
            Outcome::RolledBack(_) => "rolled-back",
            Outcome::Incomplete(_) => "rollback-incomplete",
        }
    }
}

/// Reads both sides at once and plans.
pub async fn prepare(
    source: &SourceEndpoint,
    destination: &PgEndpoint,
    instance: &str,
    options: PlanOptions,
    timeouts: &Timeouts,
) -> Result<Prepared, EngineError> {
    let (source_read, destination_read) =
        tokio::join!(source.read(timeouts), read(destination, timeouts));
    let source_seqs = source_read.map_err(|e| EngineError::new(format!("source: {e}")))?;
    let (session, destination_seqs) =
        destination_read.map_err(|e| EngineError::new(format!("destination: {e}")))?;
    let mut rows = plan(&source_seqs, &destination_seqs, options);
    let owned: Vec<&super::model::Sequence> = destination_seqs
        .iter()
        .filter(|d| d.owned_by.is_some())
        .collect();
    let edges = session.data_edges(&owned, options.scan_unindexed).await;
    let edges = owned
        .iter()
        .zip(edges)
        .filter_map(|(d, e)| Some((d.oid, e?)))
        .collect();
    flag_behind_data(&mut rows, &destination_seqs, &edges);
    let context = RunContext {
        run_id: new_run_id(),
        instance: instance.to_string(),
        source: source.display(),
        destination: destination.display.clone(),
        offset: options.offset,
        allow_lower: options.allow_lower,
        undo_of: None,
        backend: None,
    };
    crate::log::line(
        "INFO",
        &format!(
            "run {} instance {}: source {} destination {} offset {}: planned {:?}",
            context.run_id,
            context.instance,
            context.source,
            context.destination,
            context.offset,
            summarize(&rows)
        ),
    );
    Ok(Prepared {
        context,
        rows,
        destination: destination.clone(),
        session: Some(session),
        timeouts: *timeouts,
    })
}

async fn read(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
) -> Result<(PgSession, Vec<super::model::Sequence>), EngineError> {
    let session = endpoint.connect(timeouts).await?;
    let sequences = session.read_sequences().await?;
    Ok((session, sequences))
}

impl Prepared {
    /// Rows the apply would change.
    pub fn changes(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status == RowStatus::Update)
            .count()
    }

    pub fn has_problems(&self) -> bool {
        self.rows.iter().any(|r| r.status.is_problem())
    }

    pub fn journal_plan(&self, journal: &Journal) -> Result<(), String> {
        journal.append(&self.context.entry(JournalEvent::Plan, &self.rows, ""))
    }

    /// Applies the plan. `Err` means the journal could not take the intent, and nothing was
    /// applied. The second value reports a journal that failed after the apply.
    pub async fn execute(
        &mut self,
        journal: &Journal,
        options: &ApplyOptions,
        progress: &(dyn Fn(ApplyProgress) + Sync),
        cancel: &AtomicBool,
    ) -> Result<(Outcome, Option<String>), String> {
        if self.changes() > 0 {
            let session = match self.session.take().filter(|s| s.is_open()) {
                Some(s) => s,
                None => self
                    .destination
                    .connect(&self.timeouts)
                    .await
                    .map_err(|e| format!("{e}; nothing was applied"))?,
            };
            if let Some(why) = session
                .read_only()
                .await
                .map_err(|e| format!("{e}; nothing was applied"))?
            {
                return Err(format!("{why}; nothing was applied"));
            }
            self.context.backend = Some(
                session
                    .backend()
                    .await
                    .map_err(|e| format!("{e}; nothing was applied"))?,
            );
            self.session = Some(session);
        }
        // Write-ahead: the intent is on disk before the first sequence changes.
        journal
            .append(
                &self
                    .context
                    .entry(JournalEvent::ApplyStarted, &self.rows, ""),
            )
            .map_err(|e| format!("{e}; nothing was applied"))?;
        let (outcome, event, message) = if self.changes() == 0 {
            (
                Outcome::NothingToDo,
                JournalEvent::Applied,
                "nothing to change".to_string(),
            )
        } else {
            let result = postgres::apply(
                &self.destination,
                &self.timeouts,
                self.session.take(),
                &mut self.rows,
                options,
                &postgres::ApplyHooks {
                    progress,
                    record: &|locked| {
                        let mut entry = self.context.entry(JournalEvent::BatchLocked, &[], "");
                        entry.locked = locked.to_vec();
                        journal.append(&entry)
                    },
                    cancel,
                },
            )
            .await;
            match result {
                Ok(()) => (Outcome::Applied, JournalEvent::Applied, String::new()),
                Err(failure @ ApplyFailure::RolledBack { .. }) => {
                    let m = failure.to_string();
                    (Outcome::RolledBack(m.clone()), JournalEvent::RolledBack, m)
                }
                Err(failure @ ApplyFailure::Incomplete { .. }) => {
                    let m = failure.to_string();
                    (
                        Outcome::Incomplete(m.clone()),
                        JournalEvent::RollbackIncomplete,
                        m,
                    )
                }
            }
        };
        crate::log::line(
            if matches!(outcome, Outcome::Applied | Outcome::NothingToDo) {
                "INFO"
            } else {
                "ERROR"
            },
            &format!(
                "run {}: {} {:?} {message}",
                self.context.run_id,
                outcome.word(),
                summarize(&self.rows)
            ),
        );
        let journaled = journal
            .append(&self.context.entry(event, &self.rows, &message))
            .err();
        Ok((outcome, journaled))
    }
}

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
pub async fn recover_interrupted(
    journal: &Journal,
    destination: &PgEndpoint,
    timeouts: &Timeouts,
) -> Result<Vec<Recovered>, EngineError> {
    let entries = journal.read_unfinished().map_err(EngineError::new)?;
    let mut settled = vec![];
    for entry in unfinished(&entries)
        .into_iter()
        .filter(|e| e.destination == destination.display)
    {
        let mut rows = entry.rows.clone();
        if writer_alive(entry) {
            settled.push(Recovered {
                run_id: entry.run_id.clone(),
                recovery: None,
                message: format!(
                    "run {} is being applied right now by process {} on this host; not touched",
                    entry.run_id,
                    run_writer(&entry.run_id).unwrap_or_default()
                ),
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
            EngineError::new(format!(
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
            .append(&RunContext::of(entry).entry(JournalEvent::Recovered, &rows, &message))
            .map_err(EngineError::new)?;
        settled.push(Recovered {
            run_id: entry.run_id.clone(),
            recovery: Some(recovery),
            message,
        });
    }
    Ok(settled)
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
        Recovery::NotApplied => format!(
            "interrupted run {run} was not applied: it was killed before any change took hold {origin}"
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
fn abbreviated(names: &[String]) -> String {
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

/// The last entry of a run, if the journal has it.
fn last_entry<'a>(entries: &'a [JournalEntry], run_id: &str) -> Option<&'a JournalEntry> {
    entries
        .iter()
        .rev()
        .find(|e| e.run_id == run_id && e.event != JournalEvent::BatchLocked)
}

/// The undo of a run that was applied: every sequence it set goes back to its "before", as long
/// as it still holds exactly what the run set. Refused as a whole, listing why, when any
/// sequence has issued values since (lowering it would hand out the same ids again), was
/// dropped, or may not be updated.
pub async fn prepare_undo(
    journal: &Journal,
    run_id: &str,
    destination: &PgEndpoint,
    timeouts: &Timeouts,
) -> Result<Prepared, EngineError> {
    let entries = journal.read_all().map_err(EngineError::new)?;
    let Some(last) = last_entry(&entries, run_id) else {
        return Err(EngineError::new(format!(
            "no run {run_id} in the journal {}",
            journal.path().display()
        )));
    };
    if let Some(undo) = entries.iter().rev().find(|e| {
        e.undo_of.as_deref() == Some(run_id)
            && matches!(e.event, JournalEvent::Applied | JournalEvent::Recovered)
            && e.rows.iter().any(|r| r.status == RowStatus::Updated)
    }) {
        return Err(EngineError::new(format!(
            "run {run_id} was already undone by run {}",
            undo.run_id
        )));
    }
    if last.destination != destination.display {
        return Err(EngineError::new(format!(
            "run {run_id} was applied to {}, not to {}",
            last.destination, destination.display
        )));
    }
    let set: Vec<&PlanRow> = last
        .rows
        .iter()
        .filter(|r| r.status == RowStatus::Updated)
        .collect();
    if set.is_empty() {
        return Err(EngineError::new(format!(
            "run {run_id} changed nothing that can be undone (its last journal entry is '{}')",
            last.event.word()
        )));
    }
    let session = destination.connect(timeouts).await?;
    let now: std::collections::HashMap<(String, String), super::model::Sequence> = session
        .read_sequences()
        .await?
        .into_iter()
        .map(|s| ((s.schema.clone(), s.name.clone()), s))
        .collect();
    let mut refused = vec![];
    let mut rows = vec![];
    for row in set {
        let name = row.qualified_name();
        let Some(seq) = now.get(&(row.schema.clone(), row.name.clone())) else {
            refused.push(format!("{name}: dropped since the run"));
            continue;
        };
        if !seq.can_update {
            refused.push(format!("{name}: this role lacks UPDATE on it"));
            continue;
        }
        let next = seq.next_display();
        if next != row.target {
            refused.push(format!(
                "{name}: has issued values since the run (next value {}, the run set {})",
                next.map_or("unknown".to_string(), |v| v.to_string()),
                row.target.map_or("unknown".to_string(), |v| v.to_string()),
            ));
            continue;
        }
        let Some(before) = row.destination_before else {
            refused.push(format!("{name}: its value before the run is not known"));
            continue;
        };
        rows.push(PlanRow {
            schema: row.schema.clone(),
            name: row.name.clone(),
            source_value: None,
            destination_before: next,
            target: Some(before),
            destination_after: None,
            status: RowStatus::Update,
            message: String::new(),
            destination_oid: Some(seq.oid),
            source_name: None,
        });
    }
    if !refused.is_empty() {
        return Err(EngineError::new(format!(
            "undo of run {run_id} refused, nothing changed; {} sequence(s) cannot go back: {}",
            refused.len(),
            abbreviated(&refused)
        )));
    }
    let context = RunContext {
        run_id: new_run_id(),
        instance: last.instance.clone(),
        source: format!("undo of {run_id}"),
        destination: destination.display.clone(),
        offset: 0,
        allow_lower: true,
        undo_of: Some(run_id.to_string()),
        backend: None,
    };
    crate::log::line(
        "INFO",
        &format!(
            "run {}: undo of run {run_id} on {}: {} sequence(s)",
            context.run_id,
            context.destination,
            rows.len()
        ),
    );
    Ok(Prepared {
        context,
        rows,
        destination: destination.clone(),
        session: Some(session),
        timeouts: *timeouts,
    })
}

/// How an undo is applied: lowering is its purpose, and only sequences untouched since.
pub fn undo_options(batch_size: usize) -> ApplyOptions {
    ApplyOptions {
        allow_lower: true,
        require_unchanged: true,
        batch_size,
        ..ApplyOptions::default()
    }
}
