//! What flows into `update` (messages) and out of it (effects for the worker).

use super::state::Counts;
use crate::engine::instance::{Instance, Observed};
use crate::engine::journal::JournalEntry;
use crate::engine::model::PlanRow;
use crate::engine::offset::Offset;
use crate::engine::run::{Notice, Round};
use crate::engine::select::{Choice, Selection};
use crossterm::event::KeyEvent;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Tick,
    Worker(Response),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// Requests to the worker. Every long one carries a request id; answers to a request the
/// screen has moved on from are dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// List the DTS jobs of the configured regions (answered by `Discovered`).
    Discover,
    Observe {
        index: usize,
        instance: Box<Instance>,
    },
    Count {
        index: usize,
        instance: Box<Instance>,
    },
    /// How many destination sequences are behind their data (a task Synchronize Sequence
    /// refuses for its status: finished, failed, not started), answered by `DataChecked`.
    CheckData {
        index: usize,
        instance: Box<Instance>,
    },
    Plan {
        request: u64,
        instance: Box<Instance>,
        offset: Offset,
    },
    /// Plan a Repair from Data of the instance's destination (answered by `Planned`).
    Repair {
        request: u64,
        instance: Box<Instance>,
        margin: u64,
        /// Added to the source's values, where the source answers.
        offset: Offset,
    },
    /// Apply the plan `request`, as the preview chose it.
    Apply {
        request: u64,
        selection: Selection,
    },
    /// Keep Sequences Ahead until `StopWatch`, each round answered by `WatchRound`.
    Watch {
        request: u64,
        instance: Box<Instance>,
        offset: Offset,
        interval: std::time::Duration,
    },
    /// Stop the watch after the round under way (answered by `WatchEnded`).
    StopWatch {
        request: u64,
    },
    /// Measure the source's write rates for the offset dialog's suggestion.
    Rates {
        request: u64,
        instance: Box<Instance>,
    },
    /// Stop an apply: what was set is rolled back.
    Cancel {
        request: u64,
    },
    /// The operator backed out of a plan: drop it and its connection.
    Discard {
        request: u64,
    },
    History {
        index: usize,
        instance_id: String,
    },
    /// Put back what an applied run replaced; answered like an apply.
    Undo {
        request: u64,
        instance: Box<Instance>,
        run_id: String,
    },
    /// At start: settle runs a killed seqsync left unfinished on these instances.
    Recover {
        instances: Vec<Instance>,
    },
    Export {
        path: PathBuf,
        format: ExportFormat,
        run_id: String,
        instance_id: String,
        rows: Vec<PlanRow>,
    },
}

#[derive(Debug, Clone)]
pub enum Response {
    /// DTS jobs as DTS lists them, and one line per region it could not be asked in.
    Discovered {
        found: Vec<(Instance, Observed)>,
        problems: Vec<String>,
    },
    Observed {
        index: usize,
        observed: Observed,
    },
    Counted {
        index: usize,
        result: Result<Counts, String>,
    },
    DataChecked {
        index: usize,
        result: Result<usize, String>,
    },
    Planned {
        request: u64,
        result: Result<Choice, String>,
        /// What the plan's way there said: endpoint warnings, interrupted runs settled.
        notices: Vec<Notice>,
    },
    Progress {
        request: u64,
        done: usize,
        total: usize,
    },
    Applied {
        request: u64,
        run_id: String,
        outcome: String,
        error: Option<String>,
        rows: Vec<PlanRow>,
    },
    WatchRound {
        request: u64,
        round: Box<Round>,
    },
    /// A round failed and changed nothing; the watch retries.
    WatchTrouble {
        request: u64,
        error: String,
    },
    /// The watch ended: the rounds it ran, or why it stopped by itself.
    WatchEnded {
        request: u64,
        result: Result<u64, String>,
    },
    /// The offset covering the horizon at the rates measured (None: nothing to measure).
    Rated {
        request: u64,
        result: Result<Option<i64>, String>,
    },
    /// The apply could not start (the journal refused the intent): nothing changed.
    ApplyRefused {
        request: u64,
        error: String,
    },
    History {
        index: usize,
        result: Result<Vec<JournalEntry>, String>,
    },
    Exported {
        result: Result<PathBuf, String>,
    },
    /// What the start found of interrupted runs, one sentence each.
    Recovered {
        messages: Vec<String>,
        /// Some run could not be settled to all or nothing: look at the destination.
        trouble: bool,
    },
}
