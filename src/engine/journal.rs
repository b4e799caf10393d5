//! The journal: one JSON object per line for every plan and apply, fsynced before we go on.
//! The `apply-started` entry is written before the first sequence changes, so a run that was
//! killed can always be found and checked against the destination.

use super::model::{summarize, Backend, Locked, PlanRow};
use super::select::Selection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalEvent {
    Plan,
    ApplyStarted,
    /// One batch, locked and re-read, about to be set: its exact states before, so that a run
    /// killed after this point is restored to them and not to older values from the plan.
    BatchLocked,
    Applied,
    RolledBack,
    RollbackIncomplete,
    /// A later start found the run interrupted and settled it (the message says how).
    Recovered,
}

impl JournalEvent {
    pub fn word(self) -> &'static str {
        match self {
            JournalEvent::Plan => "plan",
            JournalEvent::ApplyStarted => "apply-started",
            JournalEvent::BatchLocked => "batch-locked",
            JournalEvent::Applied => "applied",
            JournalEvent::RolledBack => "rolled-back",
            JournalEvent::RollbackIncomplete => "rollback-incomplete",
            JournalEvent::Recovered => "recovered",
        }
    }

    /// Whether this event closes a run that started applying.
    pub fn ends_apply(self) -> bool {
        !matches!(
            self,
            JournalEvent::Plan | JournalEvent::ApplyStarted | JournalEvent::BatchLocked
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub run_id: String,
    pub event: JournalEvent,
    pub at: String,
    pub user: String,
    pub host: String,
    pub instance: String,
    /// Connection strings with passwords masked.
    pub source: String,
    pub destination: String,
    pub offset: i64,
    pub allow_lower: bool,
    /// The run this one undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_of: Option<String>,
    /// A repair from the data: the ids it kept free past each column's largest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub summary: BTreeMap<String, usize>,
    pub rows: Vec<PlanRow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<Locked>,
    /// What the operator chose to set (patterns and rows chosen by hand); rows left out are
    /// in `rows` as `excluded`.
    #[serde(default, skip_serializing_if = "Selection::is_everything")]
    pub selection: Selection,
}

impl JournalEntry {
    /// An entry closing a run that changed sequences, which an undo could put back.
    pub fn undoable(&self) -> bool {
        matches!(self.event, JournalEvent::Applied | JournalEvent::Recovered)
            && self
                .rows
                .iter()
                .any(|r| r.status == super::model::RowStatus::Updated)
    }
}

/// What every entry of one run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    pub instance: String,
    pub source: String,
    pub destination: String,
    pub offset: i64,
    pub allow_lower: bool,
    pub undo_of: Option<String>,
    /// Set for a repair from the data (see [`JournalEntry::margin`]).
    pub margin: Option<u64>,
    pub backend: Option<Backend>,
    pub selection: Selection,
}

impl RunContext {
    /// The context of a journaled run, to journal more of it.
    pub fn of(entry: &JournalEntry) -> RunContext {
        RunContext {
            run_id: entry.run_id.clone(),
            instance: entry.instance.clone(),
            source: entry.source.clone(),
            destination: entry.destination.clone(),
            offset: entry.offset,
            allow_lower: entry.allow_lower,
            undo_of: entry.undo_of.clone(),
            margin: entry.margin,
            backend: entry.backend.clone(),
            selection: entry.selection.clone(),
        }
    }

    pub fn entry(&self, event: JournalEvent, rows: &[PlanRow], message: &str) -> JournalEntry {
        JournalEntry {
            run_id: self.run_id.clone(),
            event,
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            user: current_user(),
            host: hostname(),
            instance: self.instance.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            offset: self.offset,
            allow_lower: self.allow_lower,
            undo_of: self.undo_of.clone(),
            margin: self.margin,
            backend: self.backend.clone(),
            message: message.to_string(),
            summary: summarize(rows)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            rows: rows.to_vec(),
            locked: vec![],
            selection: self.selection.clone(),
        }
    }
}

/// A run id that sorts by time and is unique on this host: `20261126T043000123Z-<pid>`.
pub fn new_run_id() -> String {
    // `run_writer` reads the pid back.
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let compact: String = now.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{compact}-{}", std::process::id())
}

/// The process id a run id ends with.
pub fn run_writer(run_id: &str) -> Option<u32> {
    run_id.rsplit_once('-')?.1.parse().ok()
}

/// Whether the process that wrote this entry is a seqsync still running on this host (its run
/// is in progress, not interrupted).
pub fn writer_alive(entry: &JournalEntry) -> bool {
    if entry.host != hostname() {
        return false;
    }
    let Some(pid) = run_writer(&entry.run_id) else {
        return false;
    };
    // A killed seqsync its parent has not reaped yet is a zombie: it still has a `comm`, but
    // it applies nothing any more (state `Z` in /proc/PID/stat, after the parenthesised name).
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    });
    pid != std::process::id()
        && !zombie
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim_end() == "seqsync")
}

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: PathBuf) -> Self {
        Journal { path }
    }

    /// `$XDG_STATE_HOME/seqsync/journal.jsonl`, else `~/.local/state/seqsync/journal.jsonl`.
    pub fn default_path() -> PathBuf {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("seqsync").join("journal.jsonl")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and waits until it is on disk.
    pub fn append(&self, entry: &JournalEntry) -> Result<(), String> {
        let fail =
            |e: std::io::Error| format!("cannot write the journal {}: {e}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(fail)?;
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let mut file = open_append(&self.path).map_err(fail)?;
        if !ends_with_newline(&file).map_err(fail)? {
            // A run killed mid-write left a torn line; keep ours on a line of its own.
            line.insert(0, b'\n');
        }
        file.write_all(&line).map_err(fail)?;
        file.sync_data().map_err(fail)
    }

    /// The whole file; empty when there is none yet.
    fn text(&self) -> Result<String, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!(
                "cannot read the journal {}: {e}",
                self.path.display()
            )),
        }
    }

    /// Every entry, oldest first. Lines that do not parse (a torn last line) are skipped.
    pub fn read_all(&self) -> Result<Vec<JournalEntry>, String> {
        let text = self.text()?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

/// Runs whose `apply-started` entry has no later entry closing them: the process applying them
/// was killed (or the journal could not take the closing entry). Oldest first.
pub fn unfinished(entries: &[JournalEntry]) -> Vec<&JournalEntry> {
    let closed: std::collections::HashSet<&str> = entries
        .iter()
        .filter(|e| e.event.ends_apply())
        .map(|e| e.run_id.as_str())
        .collect();
    entries
        .iter()
        .filter(|e| e.event == JournalEvent::ApplyStarted && !closed.contains(e.run_id.as_str()))
        .collect()
}

/// A line's run id and event, read from its start without parsing the rest (a line can hold
/// every row of a 50,000-sequence run). Our own lines always start this way.
fn head(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("{\"run_id\":\"")?;
    let (run_id, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(",\"event\":\"")?;
    let (event, _) = rest.split_once('"')?;
    Some((run_id, event))
}

impl Journal {
    /// The `apply-started` and `batch-locked` entries of every unfinished run, oldest first.
    /// Every start calls this, so only those lines are parsed in full: the journal of a busy
    /// host grows with every run.
    pub fn read_unfinished(&self) -> Result<Vec<JournalEntry>, String> {
        let text = self.text()?;
        let mut closed = std::collections::HashSet::new();
        let mut open: Vec<(String, &str)> = vec![];
        for line in text.lines() {
            let (run_id, event) = match head(line) {
                Some((r, e)) => (r.to_string(), e.to_string()),
                // Not written by us (or torn): parse it whole, or skip it.
                None => match serde_json::from_str::<JournalEntry>(line) {
                    Ok(e) => (e.run_id, e.event.word().to_string()),
                    Err(_) => continue,
                },
            };
            match event.as_str() {
                "plan" => {}
                "apply-started" | "batch-locked" => open.push((run_id, line)),
                _ => {
                    closed.insert(run_id);
                }
            }
        }
        Ok(open
            .into_iter()
            .filter(|(run_id, _)| !closed.contains(run_id))
            .filter_map(|(_, line)| serde_json::from_str(line).ok())
            .collect())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

fn ends_with_newline(file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_at(&mut last, len - 1)?;
    }
    Ok(last[0] == b'\n')
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

pub fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of this process's user from /etc/passwd (cron and tmux may not set USER).
fn user_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    })
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{RawState, RowStatus};

    #[test]
    fn entries_round_trip_and_a_torn_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("seqsync-journal-{}", std::process::id()));
        let journal = Journal::new(dir.join("nested/journal.jsonl"));
        let context = RunContext {
            run_id: new_run_id(),
            instance: "ad-hoc".into(),
            source: "postgresql://u:****@h/db".into(),
            destination: "postgresql://u@h2/db".into(),
            offset: 10,
            allow_lower: false,
            undo_of: None,
            margin: None,
            backend: None,
            selection: Default::default(),
        };
        let rows = vec![PlanRow {
            schema: "public".into(),
            name: "a\"b".into(),
            source_value: Some(5),
            destination_before: Some(1),
            target: Some(15),
            destination_after: None,
            status: RowStatus::Update,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        }];
        journal
            .append(&context.entry(JournalEvent::ApplyStarted, &rows, ""))
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap()
            .write_all(b"{\"run_id\": \"torn")
            .unwrap();
        journal
            .append(&context.entry(JournalEvent::Applied, &rows, ""))
            .unwrap();
        let entries = journal.read_all().unwrap();
        assert_eq!(entries.len(), 2, "an entry after a torn line survives");
        assert!(
            journal.read_unfinished().unwrap().is_empty(),
            "the run was closed by its applied entry"
        );
        let other = RunContext {
            run_id: "20261126T050000000Z-7".into(),
            ..context.clone()
        };
        let mut locked = other.entry(JournalEvent::BatchLocked, &[], "");
        locked.locked = vec![Locked {
            schema: "public".into(),
            name: "a\"b".into(),
            state: RawState {
                last_value: 1,
                is_called: false,
            },
        }];
        journal
            .append(&other.entry(JournalEvent::ApplyStarted, &rows, ""))
            .unwrap();
        journal.append(&locked).unwrap();
        let pending = journal.read_unfinished().unwrap();
        let events: Vec<_> = pending
            .iter()
            .map(|e| (e.run_id.as_str(), e.event))
            .collect();
        assert_eq!(
            events,
            vec![
                ("20261126T050000000Z-7", JournalEvent::ApplyStarted),
                ("20261126T050000000Z-7", JournalEvent::BatchLocked)
            ]
        );
        assert_eq!(pending[1].locked, locked.locked);
        assert_eq!(unfinished(&pending).len(), 1);
        assert_eq!(entries[1].event, JournalEvent::Applied);
        assert_eq!(entries[0].rows, rows);
        assert_eq!(entries[0].summary.get("update"), Some(&1));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
