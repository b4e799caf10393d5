//! `seqsync journal compact`: the active file rewritten in the current format.

use super::entry::{JournalEntry, JournalEvent};
use super::format::{self, changes, Changeable, LineOut};
use super::index::{index_file, read_run};
use super::store::{create_private, sync_dir, write_line_to, Hold, Journal, LOCK_WAIT};
use std::collections::HashMap;
use std::io::BufWriter;

/// What a compaction did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Compacted {
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub entries: usize,
    /// Lines that were not entries (a torn write, garbage): left out.
    pub dropped: usize,
}

impl Journal {
    /// Rewrites the active file in the current format, every run kept, each run's rows written
    /// once (`seqsync journal compact`).
    pub fn compact(&self) -> Result<Compacted, String> {
        let active = self.open_locked(Hold::Exclusive, LOCK_WAIT)?;
        let bytes_before = active.metadata().map_err(|e| self.fail(e))?.len();
        let index = index_file(&active).map_err(|e| self.fail(e))?;
        let next = self.sibling("compacting");
        let mut out = BufWriter::new(create_private(&next).map_err(|e| self.fail(e))?);
        let mut lines: Vec<(u64, usize, &String)> = index
            .runs
            .iter()
            .flat_map(|(r, l)| l.lines.iter().map(move |&(at, len)| (at, len, r)))
            .collect();
        lines.sort_unstable();
        // Each run is rebuilt whole, then written again line by line in the old order.
        let mut rebuilt: HashMap<&String, std::vec::IntoIter<JournalEntry>> = HashMap::new();
        let mut written: HashMap<&String, Vec<Changeable>> = HashMap::new();
        let mut entries = 0;
        for (_, _, run) in &lines {
            if !rebuilt.contains_key(run) {
                let entries = read_run(&active, &index.runs[*run]).map_err(|e| self.fail(e))?;
                rebuilt.insert(run, entries.into_iter());
            }
            let Some(entry) = rebuilt.get_mut(run).and_then(Iterator::next) else {
                continue;
            };
            let base = written.get(run);
            let line = compact_line(&entry, base);
            write_line_to(&mut out, &line).map_err(|e| self.fail(e))?;
            if line.rows.is_some() && entry.event != JournalEvent::BatchLocked {
                written.insert(run, entry.rows.iter().map(Changeable::of).collect());
            }
            entries += 1;
            if rebuilt.get(run).is_some_and(|i| i.len() == 0) {
                rebuilt.remove(run);
                written.remove(run);
            }
        }
        let file = out.into_inner().map_err(|e| self.fail(e))?;
        file.sync_all().map_err(|e| self.fail(e))?;
        let bytes_after = file.metadata().map_err(|e| self.fail(e))?.len();
        std::fs::rename(&next, self.path()).map_err(|e| self.fail(e))?;
        sync_dir(self.path());
        self.bases.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(Compacted {
            bytes_before,
            bytes_after,
            entries,
            dropped: index.unreadable,
        })
    }
}

/// A rebuilt entry as a format-2 line against the run's base already written, if any.
fn compact_line<'a>(entry: &'a JournalEntry, base: Option<&Vec<Changeable>>) -> LineOut<'a> {
    let locked_only = entry.event == JournalEvent::BatchLocked;
    let (rows, changed) = match base.and_then(|b| changes(&entry.rows, b, entry.event)) {
        _ if locked_only => (None, vec![]),
        Some(changed) => (None, changed),
        None => (Some(entry.rows.as_slice()), vec![]),
    };
    LineOut {
        v: format::FORMAT,
        run_id: &entry.run_id,
        event: entry.event,
        instance: &entry.instance,
        at: entry.at.clone(),
        user: entry.user.clone(),
        host: entry.host.clone(),
        source: &entry.source,
        destination: &entry.destination,
        offset: entry.offset,
        allow_lower: entry.allow_lower,
        undo_of: entry.undo_of.as_deref(),
        margin: entry.margin,
        backend: entry.backend.as_ref(),
        message: &entry.message,
        summary: entry
            .summary
            .iter()
            .map(|(k, v)| (status_word(k), *v))
            .collect(),
        rows,
        changed,
        locked: &entry.locked,
        selection: &entry.selection,
    }
}

/// The summary's keys are status words; a key we do not know is kept as "other".
fn status_word(key: &str) -> &'static str {
    use crate::engine::model::RowStatus;
    const ALL: [RowStatus; 12] = [
        RowStatus::Update,
        RowStatus::Updated,
        RowStatus::Unchanged,
        RowStatus::Ahead,
        RowStatus::MissingInDestination,
        RowStatus::MissingInSource,
        RowStatus::OutOfRange,
        RowStatus::NoPrivilege,
        RowStatus::Unavailable,
        RowStatus::BehindData,
        RowStatus::Ambiguous,
        RowStatus::Excluded,
    ];
    ALL.iter()
        .map(|s| s.name())
        .find(|n| *n == key)
        .unwrap_or("other")
}
