//! After a failure: the rollback of what a live apply set, and the settling of a run whose
//! process was killed, so that every run ends applied in full or not at all. What to restore
//! and how each sequence is classified is decided in `engine::saga`.

use super::endpoint::{PgEndpoint, PgSession, CLIENT_GRACE};
use super::lock::Holder;
use super::read::READ_CHUNK;
use crate::engine::model::{Backend, Locked, PlanRow, RowStatus};
use crate::engine::saga::{
    classify, restore_action, ApplyFailure, ApplyOptions, Planned, Recovery, RestoreAction, Tally,
    Touched,
};
use crate::engine::{Error, Timeouts};
use std::time::{Duration, Instant};

/// Settles a run whose apply was interrupted (the process was killed): reads the destination
/// and, when only some of the run's sequences hold its targets, restores those exactly as the
/// live rollback would, so the run ends applied in full or not at all. `rows` are the run's
/// write-ahead plan; their `destination_after` is filled with what was found.
pub async fn recover(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    backend: Option<&Backend>,
    locked: &[Locked],
    rows: &mut [PlanRow],
) -> Result<Recovery, Error> {
    let locked: std::collections::HashMap<(&str, &str), &Locked> = locked
        .iter()
        .map(|l| ((l.schema.as_str(), l.name.as_str()), l))
        .collect();
    let session = endpoint.connect(timeouts).await?;
    if let Some(backend) = backend {
        session
            .wait_until_gone(
                backend,
                timeouts.statement.max(timeouts.lock) + CLIENT_GRACE,
            )
            .await?;
    }
    // Never settle under a live run: it may be changing these very sequences.
    session.lock_applier("recovery", Holder::describe).await?;
    let tallied = tally_under_lock(&session, &locked, rows).await;
    session.unlock_applier().await;
    drop(session);
    let (tally, planned) = tallied?;
    match tally.settle(planned) {
        Ok(recovery) => Ok(recovery),
        Err(restore) => {
            let reason = "the run was interrupted part-way".to_string();
            let rollback = roll_back(endpoint, timeouts, options, restore, reason).await;
            Ok(tally.after_rollback(planned, rollback))
        }
    }
}

/// How each planned sequence stands now, read under the applier lock; and how many were planned.
async fn tally_under_lock(
    session: &PgSession,
    locked: &std::collections::HashMap<(&str, &str), &Locked>,
    rows: &mut [PlanRow],
) -> Result<(Tally, usize), Error> {
    let planned: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].status == RowStatus::Update && rows[i].target.is_some())
        .collect();
    let names: Vec<(&str, &str)> = planned
        .iter()
        .map(|&i| (rows[i].schema.as_str(), rows[i].name.as_str()))
        .collect();
    let mut oids = vec![];
    for chunk in names.chunks(READ_CHUNK) {
        oids.extend(session.oids_by_name(chunk).await?);
    }
    let present: Vec<(usize, u32)> = planned
        .iter()
        .zip(&oids)
        .filter_map(|(&i, oid)| oid.map(|o| (i, o)))
        .collect();
    let mut tally = Tally {
        not_applied: planned.len() - present.len(),
        ..Tally::default()
    };
    for chunk in present.chunks(READ_CHUNK) {
        let chunk_oids: Vec<u32> = chunk.iter().map(|&(_, o)| o).collect();
        let live = session.read_by_oid(&chunk_oids).await?;
        for (&(i, oid), l) in chunk.iter().zip(&live) {
            let row = &mut rows[i];
            row.destination_after = l.sequence.next_display();
            let locked_here = locked.get(&(row.schema.as_str(), row.name.as_str()));
            tally.add(classify(Planned {
                oid,
                name: row.qualified_name(),
                target: row.target.expect("filtered"),
                locked_before: locked_here.map(|l| l.state),
                read_by_nextval: locked_here.is_some_and(|l| l.by_nextval),
                planned_next: row.destination_before,
                now: &l.sequence,
                state_now: l.state,
            }));
        }
    }
    Ok((tally, planned.len()))
}

/// Restores every touched sequence that still holds what we set, retrying on fresh connections
/// until the deadline (the destination may be restarting).
pub(super) async fn roll_back(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    touched: Vec<Touched>,
    reason: String,
) -> ApplyFailure {
    if touched.is_empty() {
        return ApplyFailure::RolledBack { reason };
    }
    let deadline = Instant::now() + options.rollback_deadline;
    let last_error = loop {
        match restore(endpoint, timeouts, options, &touched).await {
            Ok(conflicts) if conflicts.is_empty() => return ApplyFailure::RolledBack { reason },
            Ok(conflicts) => {
                return ApplyFailure::Incomplete {
                    reason: format!(
                        "{reason}; sequences used by another session since seqsync set them are not lowered"
                    ),
                    not_restored: conflicts,
                }
            }
            Err(e) if Instant::now() >= deadline => break e.message,
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    ApplyFailure::Incomplete {
        reason: format!("{reason}; then the rollback failed: {last_error}"),
        not_restored: touched.iter().map(|t| t.name.clone()).collect(),
    }
}

/// One attempt at restoring. Idempotent: a sequence already back at its before state is skipped.
/// Returns the sequences that hold neither our value nor their old one.
async fn restore(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    options: &ApplyOptions,
    touched: &[Touched],
) -> Result<Vec<String>, Error> {
    let session = endpoint.connect(timeouts).await?;
    // The failed run's own session may still be ending; another run must not start on what
    // is being restored.
    session.lock_applier("rollback", Holder::describe).await?;
    let restored = restore_under_lock(&session, options, touched).await;
    session.unlock_applier().await;
    restored
}

/// `restore`'s work, on a session that holds the applier lock.
async fn restore_under_lock(
    session: &PgSession,
    options: &ApplyOptions,
    touched: &[Touched],
) -> Result<Vec<String>, Error> {
    let mut conflicts = vec![];
    for chunk in touched.chunks(options.batch_size.max(1)) {
        let oids: Vec<u32> = chunk.iter().map(|t| t.oid).collect();
        session
            .execute(
                "starting the rollback",
                "BEGIN ISOLATION LEVEL READ COMMITTED",
            )
            .await?;
        let live = session.read_by_oid(&oids).await?;
        let mut restore_oids = vec![];
        let mut restore_states = vec![];
        for (t, l) in chunk.iter().zip(&live) {
            match restore_action(l.state, t) {
                RestoreAction::Restore => {
                    restore_oids.push(t.oid);
                    restore_states.push(t.before);
                }
                RestoreAction::AlreadyBack => {}
                RestoreAction::Conflict => conflicts.push(t.name.clone()),
            }
        }
        if !restore_oids.is_empty() {
            session.set_states(&restore_oids, &restore_states).await?;
        }
        session.execute("committing the rollback", "COMMIT").await?;
    }
    Ok(conflicts)
}
