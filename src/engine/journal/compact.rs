//! `seqsync journal compact`: the active file rewritten in the current format.

use super::entry::{JournalEntry, RunContext};
use super::format::{Changeable, LineOut};
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
            let context = RunContext::of(&entry);
            let base = written.get(run).map(Vec::as_slice);
            let mut line = LineOut::new(
                &context,
                entry.event,
                &entry.message,
                &entry.rows,
                base,
                &entry.locked,
            );
            // As it was written: when, by whom, and its counts (which a line whose base was
            // lost still has).
            line.at = entry.at.clone();
            line.user = entry.user.clone();
            line.host = entry.host.clone();
            line.summary = entry.summary.clone();
            write_line_to(&mut out, &line).map_err(|e| self.fail(e))?;
            if line.is_base() {
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
