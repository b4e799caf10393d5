//! Plan and apply: the run both front ends start with Synchronize Sequence. One policy for
//! what is checked and journaled: interrupted runs on the destination are settled first, the
//! prerequisites are checked, the plan is journaled, and the intent is journaled before the
//! first change.

use super::context::{Context, Notify};
use super::recover::settle;
use super::status::gate;
use super::target::{SourceEndpoint, Target};
use crate::engine::behind::flag_behind_data;
use crate::engine::journal::{new_run_id, Journal, JournalEvent, RunContext};
use crate::engine::model::{summarize, PlanRow, RowStatus, Sequence};
use crate::engine::plan::{plan as plan_rows, PlanOptions};
use crate::engine::postgres::{self, run_of, Fingerprint, Holder, PgEndpoint, PgSession};
use crate::engine::saga::{ApplyFailure, ApplyOptions, ApplyProgress};
use crate::engine::select::Selection;
use crate::engine::{Error, Timeouts};
use std::sync::atomic::AtomicBool;

/// A plan, ready to be applied on the connection it was read on.
pub struct Prepared {
    pub context: RunContext,
    /// The plan as chosen (`context.selection` applied to `planned`): what the apply does.
    pub rows: Vec<PlanRow>,
    /// Every row as planned, before the choice: a preview may choose again. None while the
    /// choice leaves every row in (`rows` are then the plan itself: 100,000 rows are not
    /// held twice).
    planned: Option<Vec<PlanRow>>,
    destination: PgEndpoint,
    session: Option<PgSession>,
    timeouts: Timeouts,
    /// A repair's sequences whose columns are read again just before the apply.
    data_recheck: Option<DataRecheck>,
}

/// The columns a repair planned from, read again under the applier lock, after the
/// confirmation (which may have taken minutes while rows still arrived).
pub(super) struct DataRecheck {
    pub sequences: Vec<Sequence>,
    pub scan_unindexed: bool,
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
    /// What a failed apply is, as an error; None when it did what it should.
    pub fn error(&self) -> Option<Error> {
        match self {
            Outcome::NothingToDo | Outcome::Applied => None,
            Outcome::RolledBack(m) => Some(Error::failed(m.clone())),
            Outcome::Incomplete(m) => Some(Error::rollback_incomplete(m.clone())),
        }
    }

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

/// Synchronize Sequence up to the preview: settles runs a killed seqsync left on this
/// destination, checks the task's prerequisites (within their deadline), reads both sides at
/// once, plans, flags targets inside the destination's data, and journals the plan. Nothing is
/// changed yet, except what settling an interrupted run restores.
pub async fn plan(
    ctx: &Context,
    target: &Target,
    options: PlanOptions,
    notify: Notify<'_>,
) -> Result<Prepared, Error> {
    settle(ctx, &target.destination, notify).await?;
    if let Some(instance) = &target.instance {
        gate(instance, &ctx.timeouts).await?;
    }
    let prepared = prepare(target, options, &ctx.timeouts).await?;
    prepared.journal_plan(&ctx.journal, "")?;
    Ok(prepared)
}

/// Reads both sides at once and plans.
async fn prepare(
    target: &Target,
    options: PlanOptions,
    timeouts: &Timeouts,
) -> Result<Prepared, Error> {
    let Read {
        session,
        source,
        destination,
        ..
    } = read_both(target, timeouts).await?;
    let mut rows = plan_rows(&source, &destination, options);
    // Every row, chosen or not: the preview may put a left-out row back in.
    flag_behind(&session, &mut rows, &destination, options, |_| true).await;
    let prepared = Prepared::new(
        run_context(target, options),
        rows,
        &target.destination,
        session,
        timeouts,
    );
    let context = &prepared.context;
    crate::log::line(
        "INFO",
        &format!(
            "run {} instance {}: source {} destination {} offset {}: planned {:?}",
            context.run_id,
            context.instance,
            context.source,
            context.destination,
            context.offset,
            summarize(&prepared.rows)
        ),
    );
    Ok(prepared)
}

/// Both sides' sequences, and the destination session they were read on (the apply's).
pub(super) struct Read {
    pub session: PgSession,
    pub source: Vec<Sequence>,
    pub destination: Vec<Sequence>,
    /// Each side's catalogue fingerprint, taken just before its read, when asked for (the
    /// source's is None for Oracle).
    pub fingerprints: Option<(Option<Fingerprint>, Fingerprint)>,
}

pub(super) async fn read_both(target: &Target, timeouts: &Timeouts) -> Result<Read, Error> {
    read_both_on(target, timeouts, (None, None), false)
        .await
        .map(|(read, _)| read)
}

/// `read_both` on the given (source, destination) sessions where they are still open, else
/// on new ones; the source's session is handed back beside the read (the destination's is in
/// it). With `fingerprint`, each side's catalogue fingerprint is taken first, on the same
/// session: a change between the two makes the next comparison fail, never pass.
pub(super) async fn read_both_on(
    target: &Target,
    timeouts: &Timeouts,
    sessions: (Option<PgSession>, Option<PgSession>),
    fingerprint: bool,
) -> Result<(Read, Option<PgSession>), Error> {
    let source_session = sessions.0.filter(|s| s.is_open());
    let destination_session = sessions.1.filter(|s| s.is_open());
    let source_read = async {
        match (&target.source, source_session) {
            (SourceEndpoint::Pg(endpoint), session) => {
                let session = match session {
                    Some(s) => s,
                    None => endpoint.connect(timeouts).await?,
                };
                let print = match fingerprint {
                    true => Some(session.fingerprint().await?),
                    false => None,
                };
                let sequences = session.read_sequences().await?;
                Ok((Some(session), sequences, print))
            }
            (oracle, _) => Ok((None, oracle.read(timeouts).await?, None)),
        }
    };
    let destination_read = async {
        let session = match destination_session {
            Some(s) => s,
            None => target.destination.connect(timeouts).await?,
        };
        let print = match fingerprint {
            true => Some(session.fingerprint().await?),
            false => None,
        };
        let sequences = session.read_sequences().await?;
        Ok::<_, Error>((session, sequences, print))
    };
    let (source_read, destination_read) = tokio::join!(source_read, destination_read);
    let (source_session, source, source_print) =
        source_read.map_err(|e: Error| e.context("source"))?;
    let (session, destination, destination_print) =
        destination_read.map_err(|e| e.context("destination"))?;
    let read = Read {
        session,
        source,
        destination,
        fingerprints: destination_print.map(|d| (source_print, d)),
    };
    Ok((read, source_session))
}

/// Flags the rows chosen by `which` whose next value would be inside the data of a column
/// their destination sequence feeds (one read of the column's edge per such sequence).
pub(super) async fn flag_behind(
    session: &PgSession,
    rows: &mut [PlanRow],
    destination: &[Sequence],
    options: PlanOptions,
    which: impl Fn(&PlanRow) -> bool,
) {
    let chosen: std::collections::HashSet<u32> = rows
        .iter()
        .filter(|r| which(r))
        .filter_map(|r| r.destination_oid)
        .collect();
    let feeding: Vec<&Sequence> = destination
        .iter()
        .filter(|d| d.feeds_a_column() && chosen.contains(&d.oid))
        .collect();
    if feeding.is_empty() {
        return;
    }
    let edges = session.data_edges(&feeding, options.scan_unindexed).await;
    let edges = feeding.iter().map(|d| d.oid).zip(edges).collect();
    flag_behind_data(rows, destination, &edges);
}

/// A new run's journal context.
pub(super) fn run_context(target: &Target, options: PlanOptions) -> RunContext {
    RunContext {
        run_id: new_run_id(),
        instance: target.id.clone(),
        source: target.source.display(),
        destination: target.destination.display.clone(),
        offset: options.offset.get(),
        allow_lower: options.allow_lower,
        undo_of: None,
        margin: None,
        backend: None,
        selection: target.selection.clone(),
    }
}

/// A destination's sequences, and the session they were read on (the apply's).
pub(super) async fn read_destination(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
) -> Result<(PgSession, Vec<Sequence>), Error> {
    let session = endpoint.connect(timeouts).await?;
    let sequences = session.read_sequences().await?;
    Ok((session, sequences))
}

impl Prepared {
    /// A plan of `planned` rows, chosen by `context.selection`.
    pub(super) fn new(
        context: RunContext,
        planned: Vec<PlanRow>,
        destination: &PgEndpoint,
        session: PgSession,
        timeouts: &Timeouts,
    ) -> Prepared {
        let (rows, planned) = if context.selection.is_everything() {
            (planned, None)
        } else {
            (context.selection.apply(&planned), Some(planned))
        };
        Prepared {
            rows,
            planned,
            context,
            destination: destination.clone(),
            session: Some(session),
            timeouts: *timeouts,
            data_recheck: None,
        }
    }

    /// Read these sequences' columns again before the apply (a repair).
    pub(super) fn recheck_data(&mut self, recheck: DataRecheck) {
        self.data_recheck = Some(recheck);
    }

    /// Refuses the apply when a column now holds an id at or past its sequence's target: the
    /// plan would hand it out again.
    async fn data_still_clear(&self, session: &PgSession) -> Result<(), String> {
        let Some(recheck) = &self.data_recheck else {
            return Ok(());
        };
        let targets: std::collections::HashMap<u32, i64> = self
            .rows
            .iter()
            .filter(|r| r.status == RowStatus::Update)
            .filter_map(|r| Some((r.destination_oid?, r.target?)))
            .collect();
        let chosen: Vec<&Sequence> = recheck
            .sequences
            .iter()
            .filter(|s| targets.contains_key(&s.oid))
            .collect();
        let edges = session.data_edges(&chosen, recheck.scan_unindexed).await;
        let mut overrun = vec![];
        for (seq, columns) in chosen.iter().zip(edges) {
            let target = targets[&seq.oid];
            for column in columns {
                if let crate::engine::model::DataEdge::Value(Some(edge)) = column.edge {
                    if crate::engine::behind::ids_taken(seq.ascending(), target, edge).is_some() {
                        overrun.push(format!(
                            "{} now holds {edge}, past the target {target}",
                            column.column
                        ));
                    }
                }
            }
        }
        if overrun.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "rows arrived since the plan ({}); plan again, with a larger margin if rows \
                 are still arriving",
                super::recover::abbreviated(&overrun)
            ))
        }
    }

    /// Journals the plan (with `note` as its message) before anything changes.
    pub(super) fn journal_plan(&self, journal: &Journal, note: &str) -> Result<(), Error> {
        journal
            .record(&self.context, JournalEvent::Plan, &self.rows, note, &[])
            .map_err(|e| Error::failed(format!("{e}; nothing was changed")))
    }

    /// Every row as planned, before the choice (and before the apply).
    pub fn planned(&self) -> &[PlanRow] {
        self.planned.as_deref().unwrap_or(&self.rows)
    }

    /// Chooses again (the preview's rows put in or left out by hand); journaled with the apply.
    pub fn choose(&mut self, selection: Selection) {
        let planned = match self.planned.take() {
            Some(planned) => planned,
            None => std::mem::take(&mut self.rows),
        };
        self.rows = selection.apply(&planned);
        self.planned = Some(planned);
        self.context.selection = selection;
    }

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

    /// Applies the plan. `Err` means the journal could not take the intent, and nothing was
    /// applied. The second value reports a journal that failed after the apply.
    pub async fn execute(
        &mut self,
        journal: &Journal,
        options: &ApplyOptions,
        progress: &(dyn Fn(ApplyProgress) + Sync),
        cancel: &AtomicBool,
    ) -> Result<(Outcome, Option<String>), Error> {
        let not_started = |e: String| Error::failed(format!("{e}; nothing was applied"));
        if self.changes() > 0 {
            let session = match self.session.take().filter(|s| s.is_open()) {
                Some(s) => s,
                None => self
                    .destination
                    .connect(&self.timeouts)
                    .await
                    .map_err(|e| not_started(e.to_string()))?,
            };
            let who = |holder: &Holder| who_holds(journal, holder);
            // Sent together: none of them changes anything, and a server that cannot take
            // changes is named before a lock it may also have refused.
            let (read_only, locked, backend) = tokio::join!(
                session.read_only(),
                session.lock_applier(&self.context.run_id, who),
                session.backend(),
            );
            if let Some(why) = read_only.map_err(|e| not_started(e.to_string()))? {
                return Err(not_started(why));
            }
            locked.map_err(|e| not_started(e.message))?;
            let checked = self
                .data_still_clear(&session)
                .await
                .and_then(|()| backend.map_err(|e| e.to_string()));
            match checked {
                Ok(backend) => self.context.backend = Some(backend),
                Err(e) => {
                    session.unlock_applier().await;
                    return Err(not_started(e));
                }
            }
            self.session = Some(session);
        }
        // Write-ahead: the intent is on disk before the first sequence changes.
        let intent = journal.record(
            &self.context,
            JournalEvent::ApplyStarted,
            &self.rows,
            "",
            &[],
        );
        if let Err(e) = intent {
            if let Some(session) = self.session.take() {
                session.unlock_applier().await;
            }
            return Err(not_started(e.to_string()));
        }
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
                        journal.record(&self.context, JournalEvent::BatchLocked, &[], "", locked)
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
            .record(&self.context, event, &self.rows, &message, &[])
            .err();
        Ok((outcome, journaled))
    }
}

/// The run holding a destination's applier lock, with who started it and when where this
/// host's journal knows it.
fn who_holds(journal: &Journal, holder: &Holder) -> String {
    let started = run_of(&holder.application_name).and_then(|run| {
        let entries = journal.read_unfinished().ok()?;
        entries
            .into_iter()
            .find(|e| e.run_id == run)
            .map(|e| format!("started by {}@{} at {}", e.user, e.host, e.at))
    });
    match started {
        Some(started) => format!("{}, {started}", holder.describe()),
        None => holder.describe(),
    }
}
