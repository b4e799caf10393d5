//! The vocabulary shared by every part of seqsync: engines, sequences, plan rows and statuses.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use super::engines::{check_pair, supported_pairs_text, Engine, ENGINE_NAMES, SUPPORTED_PAIRS};

/// A schema or sequence name as a catalogue row holds it: up to 24 bytes inline, so the usual
/// names (`public`, `orders_id_seq`) take no allocation of their own. A plan holds three copies
/// of every name (source, destination, row); at 100,000 sequences that was 600,000 allocations
/// of at least 32 bytes each.
pub type Name = compact_str::CompactString;

/// The column a serial or identity sequence feeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedBy {
    pub schema: String,
    pub table: String,
    pub column: String,
    pub identity: bool,
    /// The column leads a valid index, so its maximum is one index probe.
    #[serde(default)]
    pub indexed: bool,
    /// This role may SELECT the column.
    #[serde(default)]
    pub readable: bool,
    /// The column's type as PostgreSQL names it (`integer`, `bigint`, …); empty when unknown.
    #[serde(default)]
    pub column_type: String,
}

/// What the destination's data says of a serial or identity sequence's owning column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum DataEdge {
    /// The column's largest value (smallest for a descending sequence); None for no rows.
    Value(Option<i64>),
    /// Not read: the column leads no index, so reading it would scan the whole table.
    Unindexed,
    /// Not read: this role may not SELECT it, or reading failed (the reason).
    Unreadable(String),
}

impl OwnedBy {
    /// The values the column's type can hold, where it is an integer type narrower than or as
    /// wide as a sequence's: a sequence set past them hands out ids the column cannot store.
    pub fn type_range(&self) -> Option<(i64, i64)> {
        match self.column_type.as_str() {
            "smallint" => Some((i16::MIN.into(), i16::MAX.into())),
            "integer" => Some((i32::MIN.into(), i32::MAX.into())),
            "bigint" => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }

    /// `schema.table`, quoted where needed.
    pub fn qualified_table(&self) -> String {
        display_name(&self.schema, &self.table)
    }

    pub fn qualified_column(&self) -> String {
        format!(
            "{}.{}",
            display_name(&self.schema, &self.table),
            display_ident(&self.column)
        )
    }
}

/// One sequence as read from a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The catalogue's identity of the sequence (PostgreSQL OID); 0 where there is none.
    pub oid: u32,
    pub schema: Name,
    pub name: Name,
    /// `bigint`, `integer`, `smallint` (no allocation for these: there are as many as
    /// sequences), or what the catalogue says.
    pub data_type: std::borrow::Cow<'static, str>,
    pub start: i64,
    pub min: i64,
    pub max: i64,
    pub increment: i64,
    pub cycle: bool,
    pub cache: i64,
    /// None when this role may not read the sequence's value.
    pub last_value: Option<i64>,
    pub is_called: bool,
    pub can_read: bool,
    pub can_update: bool,
    /// This role has USAGE on the sequence's schema (without it, no privilege on the sequence
    /// helps).
    pub schema_usable: bool,
    /// An unlogged sequence (PostgreSQL 15+): physical replication does not carry it, and a
    /// crash resets it to its start.
    pub unlogged: bool,
    /// What most sequences lack, behind one pointer (None when it has none of it): each
    /// sequence read is held twice over (source and destination) while a plan is made, and
    /// these fields inline took 80 of its 224 bytes.
    pub extras: Option<Box<Extras>>,
}

/// The rarer facts about a sequence (see [`Sequence::extras`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// The column it feeds as a serial or identity sequence.
    pub owned_by: Option<OwnedBy>,
    /// Other columns whose DEFAULT calls `nextval()` on it (a sequence may feed many tables).
    pub default_for: Vec<OwnedBy>,
    /// The source's own name when it differs from the one matched (Oracle's `OWNER.NAME`).
    pub origin: Option<Box<str>>,
    /// Why its value cannot be read here although the role may read it (an unlogged sequence
    /// on a standby).
    pub unavailable: Option<Box<str>>,
    /// Something the operator should know about the value read (an Oracle CYCLE sequence
    /// read past its MAXVALUE, taken as wrapped).
    pub note: Option<Box<str>>,
}

impl Extras {
    /// Boxed, or None when there is nothing in it (no allocation for most sequences).
    pub fn boxed(self) -> Option<Box<Extras>> {
        (self != Extras::default()).then(|| Box::new(self))
    }
}

/// A type name as a sequence holds it: the usual ones without an allocation.
pub fn type_name(name: String) -> std::borrow::Cow<'static, str> {
    match ["bigint", "integer", "smallint", "NUMBER"]
        .into_iter()
        .find(|known| *known == name)
    {
        Some(known) => known.into(),
        None => name.into(),
    }
}

/// What the next `nextval()` would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextValue {
    Value(i64),
    /// A NO CYCLE sequence that has handed out its last value.
    Exhausted,
}

impl Sequence {
    pub fn ascending(&self) -> bool {
        self.increment > 0
    }

    pub fn next_value(&self) -> Option<NextValue> {
        let last = self.last_value?;
        if !self.is_called {
            return Some(NextValue::Value(last));
        }
        let next = last as i128 + self.increment as i128;
        if next > self.max as i128 || next < self.min as i128 {
            if self.cycle {
                let wrapped = if self.ascending() { self.min } else { self.max };
                Some(NextValue::Value(wrapped))
            } else {
                Some(NextValue::Exhausted)
            }
        } else {
            Some(NextValue::Value(next as i64))
        }
    }

    /// The next value on an unbounded line in the increment's direction, so that an exhausted
    /// (or wrapped) sequence compares as being past every value within its bounds.
    pub fn next_position(&self) -> Option<i128> {
        let last = self.last_value? as i128;
        Some(if self.is_called {
            last + self.increment as i128
        } else {
            last
        })
    }

    pub fn qualified_name(&self) -> String {
        display_name(&self.schema, &self.name)
    }

    /// Every column it feeds: the owning column (serial, identity) first, then the columns
    /// whose DEFAULT calls it.
    pub fn fed_columns(&self) -> impl Iterator<Item = &OwnedBy> {
        self.owned_by().into_iter().chain(self.default_for())
    }

    pub fn feeds_a_column(&self) -> bool {
        self.owned_by().is_some() || !self.default_for().is_empty()
    }

    /// The column it feeds as a serial or identity sequence.
    pub fn owned_by(&self) -> Option<&OwnedBy> {
        self.extras.as_ref()?.owned_by.as_ref()
    }

    /// Other columns whose DEFAULT calls `nextval()` on it.
    pub fn default_for(&self) -> &[OwnedBy] {
        self.extras.as_ref().map_or(&[], |e| &e.default_for)
    }

    /// The source's own name when it differs from the one matched.
    pub fn origin(&self) -> Option<&str> {
        self.extras.as_ref()?.origin.as_deref()
    }

    /// Why its value cannot be read here although the role may read it.
    pub fn unavailable(&self) -> Option<&str> {
        self.extras.as_ref()?.unavailable.as_deref()
    }

    /// Something the operator should know about the value read.
    pub fn note(&self) -> Option<&str> {
        self.extras.as_ref()?.note.as_deref()
    }

    /// The rarer facts, to change (allocated on first use).
    pub fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    /// The GRANT that would let `role` do `privileges` on this sequence.
    pub fn grant_needed(&self, privileges: &str, role: &str) -> String {
        if self.schema_usable {
            format!(
                "GRANT {privileges} ON SEQUENCE {} TO {role}",
                self.qualified_name()
            )
        } else {
            format!(
                "GRANT USAGE ON SCHEMA {} TO {role} (and {privileges} on its sequences)",
                display_ident(&self.schema)
            )
        }
    }

    /// The "next value" shown in before/after columns; an exhausted sequence shows its last.
    pub fn next_display(&self) -> Option<i64> {
        match self.next_value()? {
            NextValue::Value(v) => Some(v),
            NextValue::Exhausted => self.last_value,
        }
    }
}

/// `schema.name`, with either part double-quoted when it is not a plain lower-case identifier,
/// so that odd names stay readable and unambiguous on screen.
pub fn display_name(schema: &str, name: &str) -> String {
    format!("{}.{}", display_ident(schema), display_ident(name))
}

pub fn display_ident(ident: &str) -> String {
    let plain = !ident.is_empty()
        && ident
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        ident.to_string()
    } else {
        quote_ident(ident)
    }
}

/// PostgreSQL identifier quoting: always quote, double any embedded quote.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    Update,
    Updated,
    Unchanged,
    Ahead,
    MissingInDestination,
    MissingInSource,
    OutOfRange,
    NoPrivilege,
    /// The value cannot be read where seqsync reads it (an unlogged sequence on a standby), or
    /// the source has no value that means "next key" (Oracle scalable and session sequences).
    Unavailable,
    /// The target is at or below (descending: above) the data already in the owning column:
    /// setting it would produce duplicate keys.
    BehindData,
    /// Matched through columns to more than one sequence on the other side: refused together.
    Ambiguous,
    /// Left out by the operator (`--exclude`, `--include`, the config, the preview).
    Excluded,
}

impl RowStatus {
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Update => "update",
            RowStatus::Updated => "updated",
            RowStatus::Unchanged => "unchanged",
            RowStatus::Ahead => "ahead",
            RowStatus::MissingInDestination => "missing-in-destination",
            RowStatus::MissingInSource => "missing-in-source",
            RowStatus::OutOfRange => "out-of-range",
            RowStatus::NoPrivilege => "no-privilege",
            RowStatus::Unavailable => "unavailable",
            RowStatus::BehindData => "behind-data",
            RowStatus::Ambiguous => "ambiguous",
            RowStatus::Excluded => "excluded",
        }
    }

    /// Rows the operator asked for but that could not be applied: exit code 3.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            RowStatus::MissingInDestination
                | RowStatus::MissingInSource
                | RowStatus::OutOfRange
                | RowStatus::NoPrivilege
                | RowStatus::Unavailable
                | RowStatus::BehindData
                | RowStatus::Ambiguous
        )
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of a plan, and later of its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub schema: Name,
    pub name: Name,
    /// The source's `last_value`.
    pub source_value: Option<i64>,
    /// The value the destination's next `nextval()` would have returned.
    pub destination_before: Option<i64>,
    /// The value the destination's next `nextval()` is to return.
    pub target: Option<i64>,
    /// Read back from the destination after the apply.
    pub destination_after: Option<i64>,
    pub status: RowStatus,
    pub message: String,
    /// The destination sequence the plan was made against: the apply changes exactly that one
    /// and refuses if it was dropped or renamed since.
    #[serde(skip)]
    pub destination_oid: Option<u32>,
    /// The source sequence's own name, when it is not the destination's (Oracle, or matched
    /// through a column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Which rule paired the two sequences.
    #[serde(default)]
    pub matched: Matched,
    /// The source sequence's (schema, name) as planned (after any name mapping), to join the
    /// row with what was read of the source; read it with [`PlanRow::source_names`].
    #[serde(skip)]
    pub source_key: Option<SourceKey>,
}

/// Where a row's source sequence is, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKey {
    /// The row's own schema and name (most rows: no copy of the names is kept).
    SameName,
    Other(Box<(String, String)>),
}

impl SourceKey {
    /// The key of a source named `schema.name` on a row named `row_schema.row_name`.
    pub fn of(row_schema: &str, row_name: &str, schema: &str, name: &str) -> SourceKey {
        if (row_schema, row_name) == (schema, name) {
            SourceKey::SameName
        } else {
            SourceKey::Other(Box::new((schema.to_string(), name.to_string())))
        }
    }
}

impl PlanRow {
    /// The source sequence's (schema, name), when the row has one.
    pub fn source_names(&self) -> Option<(&str, &str)> {
        match self.source_key.as_ref()? {
            SourceKey::SameName => Some((&self.schema, &self.name)),
            SourceKey::Other(names) => Some((&names.0, &names.1)),
        }
    }
}

/// How a source sequence was paired with a destination sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "column")]
pub enum Matched {
    /// Same schema and name (after the Oracle name mapping), or not paired at all.
    #[default]
    Name,
    /// Both feed this destination column (owning column, identity, or DEFAULT nextval()).
    Column(String),
}

impl PlanRow {
    pub fn qualified_name(&self) -> String {
        display_name(&self.schema, &self.name)
    }

    /// The destination name, and the source's beside it when they differ.
    pub fn names(&self) -> String {
        match &self.source_name {
            Some(source) => format!("{} ← {source}", self.qualified_name()),
            None => self.qualified_name(),
        }
    }
}

/// Counts per status, in a stable order.
pub fn summarize(rows: &[PlanRow]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut summary = std::collections::BTreeMap::new();
    for row in rows {
        *summary.entry(row.status.name()).or_insert(0) += 1;
    }
    summary
}

/// A sequence's exact state: enough to restore it with `setval(seq, last_value, is_called)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawState {
    pub last_value: i64,
    pub is_called: bool,
}

/// A sequence's exact state under the apply's lock, just before it was set: journaled, so that
/// a killed run is restored to it and not to older values from the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    pub schema: String,
    pub name: String,
    pub state: RawState,
    /// The run read this never-called sequence with its own `nextval()` under the lock (older
    /// servers), so finding it called at exactly that value means the run left it so. Without
    /// this, someone else's `nextval()` did: a settle must not undo it, or the value is issued
    /// twice. Absent in older journals, read as false: at worst a sequence stays one step on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_nextval: bool,
}

/// The destination server process that applies a run: a later start waits for it to be gone
/// before it reads what the run left (a killed client's backend can still finish a statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub pid: i32,
    pub started: String,
}

/// How source names (Oracle's) become destination names. Oracle folds unquoted names to upper
/// case and PostgreSQL to lower case, so by default an all-upper-case name is looked up in lower
/// case; a name with any lower-case letter was quoted when created and is kept exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameCase {
    #[default]
    Fold,
    Exact,
}

impl NameCase {
    pub fn parse(text: &str) -> Result<NameCase, String> {
        match text.trim() {
            "fold" | "lower" => Ok(NameCase::Fold),
            "exact" => Ok(NameCase::Exact),
            other => Err(format!("'{other}' is not one of: fold, exact")),
        }
    }

    pub fn apply(self, name: &str) -> String {
        match self {
            NameCase::Fold if !name.chars().any(char::is_lowercase) => name.to_lowercase(),
            _ => name.to_string(),
        }
    }
}

#[cfg(test)]
impl Sequence {
    /// A readable, updatable bigint sequence `public.<name>` for unit tests.
    pub(crate) fn for_test(
        name: &str,
        last: i64,
        called: bool,
        increment: i64,
        min: i64,
        max: i64,
    ) -> Sequence {
        Sequence {
            oid: 0,
            schema: "public".into(),
            name: name.into(),
            data_type: "bigint".into(),
            start: if increment > 0 { min } else { max },
            min,
            max,
            increment,
            cycle: false,
            cache: 1,
            last_value: Some(last),
            is_called: called,
            can_read: true,
            can_update: true,
            schema_usable: true,
            unlogged: false,
            extras: None,
        }
    }
}

#[cfg(test)]
mod tests;
