//! Where each run's lines are in one journal file, found from each line's head alone, and a
//! run read back from there.

use super::entry::JournalEntry;
use super::format::{self, head, Head, LineIn};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Where each line of a run is in one file.
#[derive(Default)]
pub struct RunLines {
    pub lines: Vec<(u64, usize)>,
    pub applying: bool,
    pub ended: bool,
    pub instance: Option<String>,
    /// The last line that says what the run is now (not the intent or a batch's record).
    pub last_word: Option<(u64, usize)>,
}

/// A file's runs, in the order of their first line.
#[derive(Default)]
pub struct Index {
    pub runs: HashMap<String, RunLines>,
    pub order: Vec<String>,
    pub entries: usize,
    pub unreadable: usize,
}

impl Index {
    pub fn unfinished(&self) -> impl Iterator<Item = &String> {
        self.order
            .iter()
            .filter(|r| self.runs[*r].applying && !self.runs[*r].ended)
    }
}

pub fn index_path(path: &Path) -> Result<Index, String> {
    match File::open(path) {
        Ok(f) => index_file(&f).map_err(|e| read_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(read_error(path, e)),
    }
}

pub fn read_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot read the journal {}: {e}", path.display())
}

pub fn open_read(path: &Path) -> Result<Option<File>, String> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(path, e)),
    }
}

/// Calls `each` with every line's offset and bytes (newline cut), reading one line at a time:
/// memory follows the longest line, not the file.
pub fn scan(file: &File, mut each: impl FnMut(u64, &[u8])) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(0))?;
    let mut line = Vec::new();
    let mut at = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if !body.is_empty() {
            each(at, body);
        }
        at += n as u64;
    }
}

/// Where each run's lines are, from each line's head alone.
pub fn index_file(file: &File) -> std::io::Result<Index> {
    let mut index = Index::default();
    scan(file, |at, line| {
        let head = match head(line) {
            Some(h) => h,
            // Not written by us (or torn): parse it whole, or skip it.
            None => match serde_json::from_slice::<format::HeaderIn>(line) {
                Ok(e) => Head {
                    run_id: e.run_id,
                    event: e.event.word().to_string(),
                    instance: Some(e.instance),
                },
                Err(_) => {
                    index.unreadable += 1;
                    return;
                }
            },
        };
        index.entries += 1;
        if !index.runs.contains_key(&head.run_id) {
            index.order.push(head.run_id.clone());
        }
        let run = index.runs.entry(head.run_id).or_default();
        run.lines.push((at, line.len()));
        if run.instance.is_none() {
            run.instance = head.instance;
        }
        match head.event.as_str() {
            "apply-started" => run.applying = true,
            "batch-locked" => {}
            "plan" => run.last_word = Some((at, line.len())),
            _ => {
                run.ended = true;
                run.last_word = Some((at, line.len()));
            }
        }
    })?;
    Ok(index)
}

pub fn read_at(file: &File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buf, at)?;
    }
    Ok(buf)
}

/// One run's entries, rows rebuilt; lines that do not parse are skipped.
pub fn read_run(file: &File, run: &RunLines) -> std::io::Result<Vec<JournalEntry>> {
    let mut lines = vec![];
    for &(at, len) in &run.lines {
        if let Ok(line) = serde_json::from_slice::<LineIn>(&read_at(file, at, len)?) {
            lines.push(line);
        }
    }
    Ok(format::materialize(lines))
}
