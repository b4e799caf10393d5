//! One synchronization run, shared by the CLI and the TUI's worker: read both sides, plan,
//! journal, apply, journal again.

use super::instance::Endpoint;
use super::journal::{new_run_id, Journal, JournalEvent, RunContext};
use super::model::{summarize, Engine, PlanRow, RowStatus};
use super::oracle::OracleEndpoint;
use super::plan::{plan, PlanOptions};
use super::postgres::{self, ApplyFailure, ApplyOptions, ApplyProgress, PgEndpoint, PgSession};
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
    let rows = plan(&source_seqs, &destination_seqs, options);
    let context = RunContext {
        run_id: new_run_id(),
        instance: instance.to_string(),
        source: source.display(),
        destination: destination.display.clone(),
        offset: options.offset,
        allow_lower: options.allow_lower,
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
                progress,
                cancel,
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
