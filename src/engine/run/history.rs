//! Runs, newest first, as the History tab and `seqsync journal` list them: one line per run,
//! its latest word — how it ended (applied, rolled back, recovered), or `plan` for a run that
//! was only planned. A watch round's plan and apply are one run, so they are one line; the
//! intent and the per-batch records are the journal's, not the operator's.

use super::context::Context;
use crate::engine::journal::JournalEntry;
use crate::engine::Error;

/// How many runs the History tab lists: a page, so that its cost does not grow with the
/// journal's age.
pub const HISTORY_RUNS: usize = 500;

/// The newest runs of one instance, at most `limit`.
pub fn history(ctx: &Context, instance_id: &str, limit: usize) -> Result<Vec<JournalEntry>, Error> {
    ctx.journal
        .runs(limit, &|e| e.instance == instance_id)
        .map_err(Error::failed)
}

/// The journal as `seqsync journal` shows it: where it is, how big, and its newest runs.
#[derive(Debug, serde::Serialize)]
pub struct Overview {
    pub path: String,
    /// Whether the file exists (the first plan writes it).
    pub exists: bool,
    pub bytes: u64,
    /// Entries and runs in the active file (archives hold older ones).
    pub entries: usize,
    pub runs: usize,
    /// Lines that are not entries (a torn write, garbage), skipped by every reader.
    pub unreadable: usize,
    /// Runs that started applying and never ended: the next start on their destination
    /// settles them.
    pub unfinished: Vec<String>,
    /// Where the active file rolls over, and how many archives are kept.
    pub rotate_at: u64,
    pub keep_archives: usize,
    /// The archives, newest first, with their sizes.
    pub archives: Vec<Archive>,
    /// The newest runs, newest first, at most the number asked for.
    pub recent: Vec<JournalEntry>,
}

#[derive(Debug, serde::Serialize)]
pub struct Archive {
    pub path: String,
    pub bytes: u64,
}

pub fn overview(ctx: &Context, newest: usize) -> Result<Overview, Error> {
    let stats = ctx.journal.stats().map_err(Error::failed)?;
    let recent = ctx.journal.runs(newest, &|_| true).map_err(Error::failed)?;
    Ok(Overview {
        path: ctx.journal.path().display().to_string(),
        exists: stats.bytes.is_some(),
        bytes: stats.bytes.unwrap_or(0),
        entries: stats.entries,
        runs: stats.runs,
        unreadable: stats.unreadable,
        unfinished: stats.unfinished,
        rotate_at: ctx.journal.rotate_at(),
        keep_archives: ctx.journal.keep_archives(),
        archives: stats
            .archives
            .into_iter()
            .map(|(path, bytes)| Archive { path, bytes })
            .collect(),
        recent,
    })
}
