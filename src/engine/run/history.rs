//! An instance's runs, newest first, as the History tab lists them: one line per plan and per
//! end of a run (the intent and the per-batch records are the journal's, not the operator's).

use super::context::Context;
use crate::engine::journal::{JournalEntry, JournalEvent};
use crate::engine::Error;

pub fn history(ctx: &Context, instance_id: &str) -> Result<Vec<JournalEntry>, Error> {
    let entries = ctx.journal.read_all().map_err(Error::failed)?;
    Ok(entries
        .into_iter()
        .rev()
        .filter(|e| e.instance == instance_id)
        .filter(|e| {
            !matches!(
                e.event,
                JournalEvent::ApplyStarted | JournalEvent::BatchLocked
            )
        })
        .collect())
}
