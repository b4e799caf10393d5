//! Runs, newest first, as the History tab and `seqsync journal` list them: one line per run,
//! its latest word — how it ended (applied, rolled back, recovered), or `plan` for a run that
//! was only planned. A watch round's plan and apply are one run, so they are one line; the
//! intent and the per-batch records are the journal's, not the operator's.

use super::context::Context;
use crate::engine::journal::{unfinished, JournalEntry, JournalEvent};
use crate::engine::Error;

pub fn history(ctx: &Context, instance_id: &str) -> Result<Vec<JournalEntry>, Error> {
    let entries = ctx.journal.read_all().map_err(Error::failed)?;
    Ok(latest_per_run(entries, |e| e.instance == instance_id))
}

fn latest_per_run(
    entries: Vec<JournalEntry>,
    keep: impl Fn(&JournalEntry) -> bool,
) -> Vec<JournalEntry> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .rev()
        .filter(|e| keep(e))
        .filter(|e| {
            !matches!(
                e.event,
                JournalEvent::ApplyStarted | JournalEvent::BatchLocked
            )
        })
        .filter(|e| seen.insert(e.run_id.clone()))
        .collect()
}

/// The journal as `seqsync journal` shows it: where it is, how big, and its newest runs.
#[derive(Debug, serde::Serialize)]
pub struct Overview {
    pub path: String,
    /// Whether the file exists (the first plan writes it).
    pub exists: bool,
    pub bytes: u64,
    pub entries: usize,
    pub runs: usize,
    /// Runs that started applying and never ended: the next start on their destination
    /// settles them.
    pub unfinished: Vec<String>,
    /// The newest runs, newest first, at most the number asked for.
    pub recent: Vec<JournalEntry>,
}

pub fn overview(ctx: &Context, newest: usize) -> Result<Overview, Error> {
    let path = ctx.journal.path();
    let (exists, bytes) = match std::fs::metadata(path) {
        Ok(m) => (true, m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, 0),
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot read the journal {}: {e}",
                path.display()
            )))
        }
    };
    let entries = ctx.journal.read_all().map_err(Error::failed)?;
    let count = entries.len();
    let open = unfinished(&entries)
        .into_iter()
        .map(|e| e.run_id.clone())
        .collect();
    let runs = latest_per_run(entries, |_| true);
    Ok(Overview {
        path: path.display().to_string(),
        exists,
        bytes,
        entries: count,
        runs: runs.len(),
        unfinished: open,
        recent: runs.into_iter().take(newest).collect(),
    })
}
