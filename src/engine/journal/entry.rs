//! What the journal holds: a run's events, as read back with every row rebuilt.

use crate::engine::model::{summarize, Backend, Locked, PlanRow};
use crate::engine::select::Selection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Every row, rebuilt from the run's base; empty in the entries History lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
        matches!(self.event, JournalEvent::Applied | JournalEvent::Recovered) && self.updated() > 0
    }

    /// How many sequences the run set, by its summary (History's entries carry no rows).
    pub fn updated(&self) -> usize {
        self.summary
            .get(crate::engine::model::RowStatus::Updated.name())
            .copied()
            .unwrap_or(0)
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

/// Looked up once a process: every journal entry carries it, and a long watch writes many.
pub fn current_user() -> String {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .or_else(user_of_this_process)
            .unwrap_or_else(|| "unknown".to_string())
    })
    .clone()
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

/// Looked up once a process, as `current_user`.
pub fn hostname() -> String {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_string())
    })
    .clone()
}
