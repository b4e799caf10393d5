//! An instance's runs, newest first, as the History tab lists them: one line per run, its
//! latest word — how it ended (applied, rolled back, recovered), or `plan` for a run that was
//! only planned. A watch round's plan and apply are one run, so they are one line; the intent
//! and the per-batch records are the journal's, not the operator's.

use super::context::Context;
use crate::engine::journal::{JournalEntry, JournalEvent};
use crate::engine::Error;

pub fn history(ctx: &Context, instance_id: &str) -> Result<Vec<JournalEntry>, Error> {
    let entries = ctx.journal.read_all().map_err(Error::failed)?;
    let mut seen = std::collections::HashSet::new();
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
        .filter(|e| seen.insert(e.run_id.clone()))
        .collect())
}
