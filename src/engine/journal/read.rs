//! Reading the journal: only what a command needs, from the active file (a start, recovery)
//! or from the files newest first until found (undo, History).

use super::entry::{JournalEntry, JournalEvent};
use super::format::{self, head, LineIn};
use super::index::{index_file, index_path, open_read, read_at, read_error, read_run, scan};
use super::store::Journal;
use std::collections::HashSet;

impl Journal {
    /// The `apply-started` and `batch-locked` entries of every unfinished run, oldest first,
    /// rows rebuilt. Only the active file is read: a rotation carries unfinished runs into it.
    pub fn read_unfinished(&self) -> Result<Vec<JournalEntry>, String> {
        let Some(file) = open_read(self.path())? else {
            return Ok(vec![]);
        };
        let index = index_file(&file).map_err(|e| read_error(self.path(), e))?;
        let mut out = vec![];
        for run in index.unfinished() {
            let entries =
                read_run(&file, &index.runs[run]).map_err(|e| read_error(self.path(), e))?;
            out.extend(entries.into_iter().filter(|e| {
                matches!(
                    e.event,
                    JournalEvent::ApplyStarted | JournalEvent::BatchLocked
                )
            }));
        }
        Ok(out)
    }

    /// Every entry of one run, rows rebuilt, from the newest file that has it.
    pub fn run(&self, run_id: &str) -> Result<Option<Vec<JournalEntry>>, String> {
        for path in self.files()? {
            let Some(file) = open_read(&path)? else {
                continue;
            };
            let index = index_file(&file).map_err(|e| read_error(&path, e))?;
            if let Some(lines) = index.runs.get(run_id) {
                return read_run(&file, lines)
                    .map(Some)
                    .map_err(|e| read_error(&path, e));
            }
        }
        Ok(None)
    }

    /// The runs that undid `run_id` and ended, as header entries (no rows), each once. Only
    /// lines that end a run and name it are parsed.
    pub fn undos_of(&self, run_id: &str) -> Result<Vec<JournalEntry>, String> {
        let needle = format!(
            "\"undo_of\":{}",
            serde_json::to_string(run_id).unwrap_or_default()
        );
        let mut found = vec![];
        let mut seen = HashSet::new();
        for path in self.files()? {
            let Some(file) = open_read(&path)? else {
                continue;
            };
            scan(&file, |_, line| {
                let ends = head(line).is_none_or(|h| {
                    !matches!(h.event.as_str(), "plan" | "apply-started" | "batch-locked")
                });
                if !ends || !memfind(line, needle.as_bytes()) {
                    return;
                }
                if let Ok(entry) = serde_json::from_slice::<format::HeaderIn>(line) {
                    if entry.undo_of.as_deref() == Some(run_id)
                        && entry.event.ends_apply()
                        && seen.insert(entry.run_id.clone())
                    {
                        found.push(entry.header());
                    }
                }
            })
            .map_err(|e| read_error(&path, e))?;
        }
        Ok(found)
    }

    /// Runs, newest first, at most `limit`, as each one's latest word (header entries, no
    /// rows): the active file first, then archives until `limit` are found.
    pub fn runs(
        &self,
        limit: usize,
        keep: &dyn Fn(&JournalEntry) -> bool,
    ) -> Result<Vec<JournalEntry>, String> {
        let mut seen = HashSet::new();
        let mut out = vec![];
        for path in self.files()? {
            if out.len() >= limit {
                break;
            }
            let Some(file) = open_read(&path)? else {
                continue;
            };
            let index = index_file(&file).map_err(|e| read_error(&path, e))?;
            let mut words: Vec<(u64, usize, &String)> = index
                .order
                .iter()
                .filter_map(|r| index.runs[r].last_word.map(|(at, len)| (at, len, r)))
                .collect();
            words.sort_unstable_by_key(|w| std::cmp::Reverse(w.0));
            for (at, len, run) in words {
                if out.len() >= limit {
                    break;
                }
                if !seen.insert(run.clone()) {
                    continue;
                }
                let line = read_at(&file, at, len).map_err(|e| read_error(&path, e))?;
                if let Ok(entry) = serde_json::from_slice::<format::HeaderIn>(&line) {
                    let entry = entry.header();
                    if keep(&entry) {
                        out.push(entry);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sizes and counts for `seqsync journal`: the active file's entries, runs and unfinished
    /// runs, and each archive's size.
    pub fn stats(&self) -> Result<Stats, String> {
        let index = index_path(self.path())?;
        let bytes = match std::fs::metadata(self.path()) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_error(self.path(), e)),
        };
        let archives = self
            .archives()?
            .into_iter()
            .map(|p| {
                let bytes = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p.display().to_string(), bytes)
            })
            .collect();
        Ok(Stats {
            bytes,
            entries: index.entries,
            runs: index.order.len(),
            unreadable: index.unreadable,
            unfinished: index.unfinished().cloned().collect(),
            archives,
        })
    }
}

impl Journal {
    /// Every entry of every file, archives first, each file's in the order written, rows
    /// rebuilt. Its cost grows with the journal: for tests and diagnostics, not for a start.
    pub fn read_all(&self) -> Result<Vec<JournalEntry>, String> {
        let mut files = self.files()?;
        files.reverse();
        let mut out = vec![];
        for path in files {
            let Some(file) = open_read(&path)? else {
                continue;
            };
            let index = index_file(&file).map_err(|e| read_error(&path, e))?;
            let mut placed: Vec<(u64, JournalEntry)> = vec![];
            for run in index.runs.values() {
                let mut lines = vec![];
                let mut offsets = vec![];
                for &(at, len) in &run.lines {
                    let bytes = read_at(&file, at, len).map_err(|e| read_error(&path, e))?;
                    if let Ok(line) = serde_json::from_slice::<LineIn>(&bytes) {
                        lines.push(line);
                        offsets.push(at);
                    }
                }
                placed.extend(offsets.into_iter().zip(format::materialize(lines)));
            }
            placed.sort_unstable_by_key(|(at, _)| *at);
            out.extend(placed.into_iter().map(|(_, e)| e));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    /// None when there is no journal yet.
    pub bytes: Option<u64>,
    pub entries: usize,
    pub runs: usize,
    pub unreadable: usize,
    pub unfinished: Vec<String>,
    /// (path, bytes), newest first.
    pub archives: Vec<(String, u64)>,
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
