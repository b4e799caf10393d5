//! One journal line, as written and as read back.
//!
//! Format 2 (`"v":2`) writes a run's rows once, in full, in the run's first line in a file
//! (its *base*). Every later line of the run carries only what is new: a batch's exact states
//! under lock, and `changed`, the rows that differ from what the event implies for the base
//! row (see [`expected`]). A reader rebuilds every row from the base and those changes, so
//! recovery and undo see exactly what a format-1 line held.
//!
//! Format 1 (no `v`) held every row in every line but `batch-locked`; it is still read.

use super::entry::{current_user, hostname, JournalEntry, JournalEvent, RunContext};
use crate::engine::model::{summarize, Backend, Locked, PlanRow, RowStatus};
use crate::engine::select::Selection;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

pub const FORMAT: u8 = 2;

/// A line to write, borrowing what it holds: a run of 100,000 rows is not copied to be
/// journaled.
#[derive(Serialize)]
pub struct LineOut<'a> {
    pub v: u8,
    // These four come first, in this order: scans read them without parsing the rest.
    pub run_id: &'a str,
    pub event: JournalEvent,
    pub instance: &'a str,
    pub at: String,
    pub user: String,
    pub host: String,
    pub source: &'a str,
    pub destination: &'a str,
    pub offset: i64,
    pub allow_lower: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_of: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'a Backend>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub message: &'a str,
    pub summary: BTreeMap<String, usize>,
    /// Every row: the run's base in this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<&'a [PlanRow]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<ChangedOut<'a>>,
    #[serde(skip_serializing_if = "<[Locked]>::is_empty")]
    pub locked: &'a [Locked],
    #[serde(skip_serializing_if = "Selection::is_everything")]
    pub selection: &'a Selection,
}

#[derive(Serialize)]
pub struct ChangedOut<'a> {
    pub row: usize,
    #[serde(flatten)]
    pub value: &'a PlanRow,
}

impl<'a> LineOut<'a> {
    /// One event of `context`'s run, written now by this user and host. Against `base` (the
    /// run's rows already in the file) only the rows that changed are written; without one, or
    /// when the rows are not the base's, every row. A batch's record holds its locked states
    /// only.
    pub fn new(
        context: &'a RunContext,
        event: JournalEvent,
        message: &'a str,
        rows: &'a [PlanRow],
        base: Option<&[Changeable]>,
        locked: &'a [Locked],
    ) -> LineOut<'a> {
        let (full, changed) = match base.and_then(|b| changes(rows, b, event)) {
            _ if event == JournalEvent::BatchLocked => (None, vec![]),
            Some(changed) => (None, changed),
            None => (Some(rows), vec![]),
        };
        LineOut {
            v: FORMAT,
            run_id: &context.run_id,
            event,
            instance: &context.instance,
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            user: current_user(),
            host: hostname(),
            source: &context.source,
            destination: &context.destination,
            offset: context.offset,
            allow_lower: context.allow_lower,
            undo_of: context.undo_of.as_deref(),
            margin: context.margin,
            backend: context.backend.as_ref(),
            message,
            summary: summarize(rows)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            rows: full,
            changed,
            locked,
            selection: &context.selection,
        }
    }

    /// Whether the line holds the run's rows, to diff its later lines against.
    pub fn is_base(&self) -> bool {
        self.rows.is_some() && self.event != JournalEvent::BatchLocked
    }
}

/// A line as read, format 1 or 2. What it holds beside its header is read as `Rows`,
/// `Changes` and `Locks`: [`LineIn`] builds them, [`HeaderIn`] skips them unbuilt (a line can
/// hold every row of a 100,000-sequence run).
#[derive(Deserialize)]
pub struct Line<Rows, Changes, Locks> {
    pub run_id: String,
    pub event: JournalEvent,
    pub at: String,
    pub user: String,
    pub host: String,
    pub instance: String,
    pub source: String,
    pub destination: String,
    pub offset: i64,
    pub allow_lower: bool,
    #[serde(default)]
    pub undo_of: Option<String>,
    #[serde(default)]
    pub margin: Option<u64>,
    #[serde(default)]
    pub backend: Option<Backend>,
    #[serde(default)]
    pub message: String,
    pub summary: BTreeMap<String, usize>,
    #[serde(default)]
    pub rows: Option<Rows>,
    #[serde(default)]
    pub changed: Option<Changes>,
    #[serde(default)]
    pub locked: Option<Locks>,
    #[serde(default)]
    pub selection: Selection,
}

pub type LineIn = Line<Vec<PlanRow>, Vec<ChangedIn>, Vec<Locked>>;
pub type HeaderIn = Line<IgnoredAny, IgnoredAny, IgnoredAny>;

#[derive(Deserialize)]
pub struct ChangedIn {
    pub row: usize,
    #[serde(flatten)]
    pub value: PlanRow,
}

impl<Rows, Changes, Locks> Line<Rows, Changes, Locks> {
    fn into_entry(self, rows: Vec<PlanRow>, locked: Vec<Locked>) -> JournalEntry {
        JournalEntry {
            run_id: self.run_id,
            event: self.event,
            at: self.at,
            user: self.user,
            host: self.host,
            instance: self.instance,
            source: self.source,
            destination: self.destination,
            offset: self.offset,
            allow_lower: self.allow_lower,
            undo_of: self.undo_of,
            margin: self.margin,
            backend: self.backend,
            message: self.message,
            summary: self.summary,
            rows,
            locked,
            selection: self.selection,
        }
    }
}

impl HeaderIn {
    /// The entry without rows or locked states (what History lists: the summary says how
    /// many of each).
    pub fn header(self) -> JournalEntry {
        self.into_entry(vec![], vec![])
    }
}

/// The fields of a row that can change between a run's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changeable {
    pub status: RowStatus,
    pub source_value: Option<i64>,
    pub destination_before: Option<i64>,
    pub target: Option<i64>,
    pub destination_after: Option<i64>,
    pub message: Box<str>,
    /// The rest of the row (names, pairing), which a run never changes, hashed: a row whose
    /// hash differs is written whole.
    pub identity: u64,
}

impl Changeable {
    pub fn of(row: &PlanRow) -> Changeable {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&row.schema, &row.name, &row.source_name, &row.matched).hash(&mut hasher);
        Changeable {
            status: row.status,
            source_value: row.source_value,
            destination_before: row.destination_before,
            target: row.target,
            destination_after: row.destination_after,
            message: row.message.as_str().into(),
            identity: hasher.finish(),
        }
    }

    /// A row just like `base` but with these fields.
    fn onto(self, base: &PlanRow) -> PlanRow {
        PlanRow {
            status: self.status,
            source_value: self.source_value,
            destination_before: self.destination_before,
            target: self.target,
            destination_after: self.destination_after,
            message: self.message.into(),
            ..base.clone()
        }
    }
}

/// What `event` implies for a row that was `base`, so that only rows that went otherwise need
/// writing: an applied run set every `update` row to its target and read every row back.
pub fn expected(base: Changeable, event: JournalEvent) -> Changeable {
    if event != JournalEvent::Applied {
        return base;
    }
    if base.status == RowStatus::Update {
        Changeable {
            status: RowStatus::Updated,
            destination_after: base.target,
            ..base
        }
    } else {
        Changeable {
            destination_after: base.destination_before,
            ..base
        }
    }
}

/// Rebuilds one run's entries from its lines in file order. A line whose base is missing
/// (its file was cut before it) gives an entry without rows.
pub fn materialize(lines: Vec<LineIn>) -> Vec<JournalEntry> {
    let mut base: Option<Vec<PlanRow>> = None;
    let mut entries = Vec::with_capacity(lines.len());
    for mut line in lines {
        let locked = line.locked.take().unwrap_or_default();
        // A batch's record holds its locked states only: a format-1 one wrote an empty list
        // of rows that means "none", not "no rows".
        let full = line
            .rows
            .take()
            .filter(|_| line.event != JournalEvent::BatchLocked);
        if let Some(rows) = full {
            base = Some(rows.clone());
            entries.push(line.into_entry(rows, locked));
            continue;
        }
        let rows = match (&base, line.event) {
            (_, JournalEvent::BatchLocked) | (None, _) => vec![],
            (Some(base), event) => {
                let mut rows: Vec<PlanRow> = base
                    .iter()
                    .map(|b| expected(Changeable::of(b), event).onto(b))
                    .collect();
                for changed in line.changed.take().unwrap_or_default() {
                    if let Some(slot) = rows.get_mut(changed.row) {
                        *slot = changed.value;
                    }
                }
                rows
            }
        };
        entries.push(line.into_entry(rows, locked));
    }
    entries
}

/// The start of one of our lines: format, run id, event and (format 2) instance, read without
/// parsing the rest (a line can hold every row of a 100,000-sequence run). None for a line we
/// did not write this way; the caller parses such a line whole or skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub run_id: String,
    pub event: String,
    /// Known from the head in format 2 only.
    pub instance: Option<String>,
}

pub fn head(line: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(line.get(..line.len().min(4096))?)
        .or_else(|e| std::str::from_utf8(&line[..e.valid_up_to()]))
        .ok()?;
    let (v2, rest) = match text.strip_prefix("{\"v\":2,") {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('{')?),
    };
    let (run_id, rest) = field(rest, "run_id")?;
    let (event, rest) = field(rest.strip_prefix(',')?, "event")?;
    let instance = if v2 {
        Some(field(rest.strip_prefix(',')?, "instance")?.0)
    } else {
        None
    };
    Some(Head {
        run_id,
        event,
        instance,
    })
}

/// `"key":"value"` at the start of `s`: the value unescaped, and what follows it.
fn field<'a>(s: &'a str, key: &str) -> Option<(String, &'a str)> {
    let rest = s
        .strip_prefix('"')?
        .strip_prefix(key)?
        .strip_prefix("\":")?;
    let body = rest.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let value = serde_json::from_str(&rest[..i + 2]).ok()?;
                return Some((value, &body[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// The rows that differ from what `event` implies for their base row; None when the rows are
/// not the base's (another count), so they must be written whole.
pub fn changes<'a>(
    rows: &'a [PlanRow],
    base: &[Changeable],
    event: JournalEvent,
) -> Option<Vec<ChangedOut<'a>>> {
    (base.len() == rows.len()).then(|| {
        rows.iter()
            .zip(base)
            .enumerate()
            .filter(|(_, (row, b))| expected((*b).clone(), event) != Changeable::of(row))
            .map(|(i, (row, _))| ChangedOut { row: i, value: row })
            .collect()
    })
}
