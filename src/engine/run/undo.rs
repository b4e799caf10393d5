//! Undo: every sequence an applied run set goes back to its value before, all or nothing, as
//! a run of its own, unless a sequence was used since.

use super::context::{Context, Notify};
use super::recover::{abbreviated, journaled_destination, settle};
use super::sync::Prepared;
use crate::engine::instance::{Endpoint, Instance};
use crate::engine::journal::{new_run_id, JournalEntry, JournalEvent, RunContext};
use crate::engine::model::{Name, PlanRow, RowStatus, Sequence};
use crate::engine::postgres::PgEndpoint;
use crate::engine::saga::ApplyOptions;
use crate::engine::saga::Recovery;
use crate::engine::Error;
use std::collections::HashMap;

/// Plans the undo of `run_id`, on its instance's destination or `ad_hoc`: settles interrupted
/// runs there first and refuses if one cannot be settled. Apply it with `Prepared::execute`
/// and [`undo_options`].
pub async fn undo(
    ctx: &Context,
    run_id: &str,
    instances: &[Instance],
    ad_hoc: Option<&Endpoint>,
    notify: Notify<'_>,
) -> Result<Prepared, Error> {
    let Some(last) = last_entry(ctx, run_id)? else {
        return Err(Error::usage(format!(
            "no run {run_id} in the journal {} or its archives; `seqsync journal` and each \
             instance's History tab list runs",
            ctx.journal.path().display()
        )));
    };
    let destination = journaled_destination(instances, ad_hoc, &last.instance, notify)?;
    let settled = settle(ctx, &destination, notify).await?;
    if settled
        .iter()
        .any(|r| matches!(r.recovery, Some(Recovery::Incomplete { .. })))
    {
        return Err(Error::rollback_incomplete(
            "an interrupted run could not be settled; look at the destination before undoing",
        ));
    }
    prepare_undo(ctx, run_id, &destination).await
}

/// The last entry of a run, rows rebuilt, if the journal or an archive has it.
fn last_entry(ctx: &Context, run_id: &str) -> Result<Option<JournalEntry>, Error> {
    let entries = ctx.journal.run(run_id).map_err(Error::failed)?;
    Ok(entries.and_then(|entries| {
        entries
            .into_iter()
            .rev()
            .find(|e| e.event != JournalEvent::BatchLocked)
    }))
}

/// The undo of a run that was applied: every sequence it set goes back to its "before", as long
/// as it still holds exactly what the run set. Refused as a whole, listing why, when any
/// sequence has issued values since (lowering it would hand out the same ids again), was
/// dropped, or may not be updated.
async fn prepare_undo(
    ctx: &Context,
    run_id: &str,
    destination: &PgEndpoint,
) -> Result<Prepared, Error> {
    // Read again: settling may just have closed the run being undone.
    let Some(last) = last_entry(ctx, run_id)? else {
        return Err(Error::usage(format!(
            "no run {run_id} in the journal {}",
            ctx.journal.path().display()
        )));
    };
    let undos = ctx.journal.undos_of(run_id).map_err(Error::failed)?;
    if let Some(undo) = undos.iter().find(|e| e.undoable()) {
        return Err(Error::failed(format!(
            "run {run_id} was already undone by run {}",
            undo.run_id
        )));
    }
    if last.destination != destination.display {
        return Err(Error::failed(format!(
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
        return Err(Error::failed(format!(
            "run {run_id} changed nothing that can be undone (its last journal entry is '{}')",
            last.event.word()
        )));
    }
    let session = destination.connect(&ctx.timeouts).await?;
    let now: HashMap<(Name, Name), Sequence> = session
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
            matched: Default::default(),
            source_key: None,
        });
    }
    if !refused.is_empty() {
        return Err(Error::failed(format!(
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
        margin: None,
        backend: None,
        selection: Default::default(),
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
    Ok(Prepared::new(
        context,
        rows,
        destination,
        session,
        &ctx.timeouts,
    ))
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
