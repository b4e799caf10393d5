//! Everything the TUI shows, as plain data. No I/O, no terminal.

use crate::engine::instance::{prerequisites, refusal, Instance, Observed, Prerequisite, TaskKind};
use crate::engine::journal::JournalEntry;
use crate::engine::model::{PlanRow, RowStatus};
use crate::engine::offset::Offset;
use crate::engine::run::Round;
use crate::engine::select::Choice;
use tui_input::Input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Instances,
    Task,
    Results,
    /// Keep Sequences Ahead, live.
    Watch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTab {
    Basic,
    History,
}

/// The task's steps as the console shows them; only Incremental Write has the tabs.
pub const STEPS: [&str; 3] = ["Schema Migration", "Full Data", "Incremental Write"];
pub const INCREMENTAL_WRITE: usize = 2;

#[derive(Debug, Clone)]
pub struct InstanceRow {
    pub instance: Instance,
    pub observed: Observed,
    /// True until the first observation arrives.
    pub observing: bool,
}

impl InstanceRow {
    pub fn prerequisites(&self) -> Vec<Prerequisite> {
        prerequisites(&self.instance, &self.observed)
    }

    /// Why Synchronize Sequence is unavailable, if it is.
    pub fn refusal(&self) -> Option<String> {
        if self.observing {
            return Some("the status is still being read".to_string());
        }
        refusal(&self.prerequisites())
    }
}

pub use crate::engine::run::Counts;

#[derive(Debug, Clone)]
pub struct TaskView {
    /// Index into `State::instances`.
    pub index: usize,
    pub step: usize,
    pub tab: TaskTab,
    pub counts: Option<Result<Counts, String>>,
    /// Destination sequences behind their data, for a task whose status refuses a sync (None:
    /// not asked, or not answered yet).
    pub behind: Option<Result<usize, String>>,
    pub history: Option<Result<Vec<JournalEntry>, String>>,
    /// The run selected in the History tab.
    pub history_selected: usize,
    /// Lines of Basic Information scrolled past (PgDn), when it is taller than the panel.
    pub basic_scroll: usize,
}

/// What the offset dialog leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetPurpose {
    /// Synchronize Sequence: a plan, its preview, then the apply.
    Sync,
    /// Keep Sequences Ahead: rounds until stopped.
    Watch,
    /// Repair from Data: the dialog takes the margin; a plan, its preview, then the apply.
    Repair,
}

/// What a plan was asked for: a sync's offset, or a repair's margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Offset(Offset),
    Margin(u64),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Offset(o) => write!(f, "offset {o}"),
            Setting::Margin(m) => write!(f, "margin {m}"),
        }
    }
}

/// How often the screen ticks (refreshes, spinners, countdowns).
pub const TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// The offset the source's measured write rates advise, measured while the dialog is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    /// Measuring since the tick `since` (for the countdown).
    Measuring {
        request: u64,
        since: u64,
    },
    Ready(i64),
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub enum Dialog {
    None,
    Offset {
        input: Input,
        error: Option<String>,
        purpose: OffsetPurpose,
        suggestion: Suggestion,
    },
    Planning {
        request: u64,
        setting: Setting,
    },
    /// The plan, whose rows space and `a` put in or leave out before the apply.
    Preview {
        request: u64,
        choice: Choice,
        setting: Setting,
        scroll: usize,
    },
    Applying {
        request: u64,
        done: usize,
        total: usize,
        cancelling: bool,
    },
    /// Undo the run selected in History?
    ConfirmUndo {
        run_id: String,
        when: String,
        sequences: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Status,
    Change,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Status,
            SortKey::Status => SortKey::Change,
            SortKey::Change => SortKey::Name,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::Change => "change",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Results {
    pub run_id: String,
    /// "applied", "nothing-to-do", "rolled-back", "rollback-incomplete".
    pub outcome: String,
    pub error: Option<String>,
    pub rows: Vec<PlanRow>,
    /// Indices into `rows` that pass the filter, in sort order.
    pub visible: Vec<usize>,
    pub filter: Input,
    pub filtering: bool,
    pub sort: SortKey,
    pub selected: usize,
    /// A Repair from Data, not a Synchronize Sequence.
    pub repair: bool,
}

impl Results {
    pub fn new(run_id: String, outcome: String, error: Option<String>, rows: Vec<PlanRow>) -> Self {
        let mut r = Results {
            run_id,
            outcome,
            error,
            rows,
            visible: vec![],
            filter: Input::default(),
            filtering: false,
            sort: SortKey::Name,
            selected: 0,
            repair: false,
        };
        r.refresh();
        r
    }

    /// Recomputes the visible rows after a filter or sort change (not on every frame).
    pub fn refresh(&mut self) {
        let needle = self.filter.value().to_lowercase();
        let mut visible: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                needle.is_empty() || {
                    let r = &self.rows[i];
                    r.qualified_name().to_lowercase().contains(&needle)
                        || r.status.name().contains(&needle)
                }
            })
            .collect();
        let rows = &self.rows;
        match self.sort {
            SortKey::Name => {}
            SortKey::Status => visible.sort_by_key(|&i| (rows[i].status, i)),
            SortKey::Change => visible.sort_by_key(|&i| {
                let r = &rows[i];
                let change = match (r.destination_after, r.destination_before) {
                    (Some(a), Some(b)) => (a as i128 - b as i128).abs(),
                    _ => -1,
                };
                (std::cmp::Reverse(change), i)
            }),
        }
        self.visible = visible;
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    pub fn count(&self, status: RowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// The Keep Sequences Ahead screen: what the rounds so far have shown.
#[derive(Debug, Clone)]
pub struct WatchView {
    pub request: u64,
    /// Index into `State::instances`.
    pub index: usize,
    pub offset: Offset,
    pub interval: std::time::Duration,
    /// The latest round, with every sequence.
    pub last: Option<Box<Round>>,
    /// Rounds that applied something, and sequences set over all rounds.
    pub applying_rounds: u64,
    pub applied: usize,
    /// The latest failed round's message, until a round succeeds.
    pub trouble: Option<String>,
    /// Refusals reported so far, newest first (each once, and again when it changes).
    pub refusals: Vec<String>,
    /// Esc was pressed: the worker stops after the round under way.
    pub stopping: bool,
    /// `q` was pressed: quit once stopped.
    pub quit_when_stopped: bool,
    /// Esc or q was pressed once: stopping the guard waits for y (q: and quit).
    pub confirming_stop: Option<bool>,
    pub scroll: usize,
}

impl WatchView {
    pub fn new(request: u64, index: usize, offset: Offset, interval: std::time::Duration) -> Self {
        WatchView {
            request,
            index,
            offset,
            interval,
            last: None,
            applying_rounds: 0,
            applied: 0,
            trouble: None,
            refusals: vec![],
            stopping: false,
            quit_when_stopped: false,
            confirming_stop: None,
            scroll: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct State {
    pub instances: Vec<InstanceRow>,
    pub tab: TaskKind,
    /// None: every region.
    pub region: Option<String>,
    pub filter: Input,
    pub filtering: bool,
    /// Index into `visible_instances()`.
    pub selected: usize,
    pub screen: Screen,
    pub task: Option<TaskView>,
    pub dialog: Dialog,
    pub results: Option<Results>,
    pub watch: Option<WatchView>,
    /// Time between Keep Sequences Ahead rounds.
    pub watch_interval: std::time::Duration,
    pub help: bool,
    pub message: Option<Message>,
    pub default_offset: Option<Offset>,
    pub next_request: u64,
    /// The request of the Repair from Data under way, so its results say Repaired.
    pub repair_request: Option<u64>,
    pub ticks: u64,
    pub quit: bool,
    /// Where the config came from, for the empty-list hint.
    pub config_note: String,
    /// `[dts]` is configured: its jobs are listed by the worker and added as they arrive.
    pub discovers: bool,
}

impl State {
    /// Shows `text` on the message line.
    pub fn inform(&mut self, text: String) {
        self.message = Some(Message { text, error: false });
    }

    /// Shows `text` on the message line as an error.
    pub fn alert(&mut self, text: String) {
        self.message = Some(Message { text, error: true });
    }

    pub fn new(
        instances: Vec<Instance>,
        default_offset: Option<Offset>,
        config_note: String,
    ) -> State {
        State {
            instances: instances
                .into_iter()
                .map(|instance| InstanceRow {
                    observed: Observed::declared(&instance),
                    instance,
                    observing: true,
                })
                .collect(),
            tab: TaskKind::Synchronization,
            region: None,
            filter: Input::default(),
            filtering: false,
            selected: 0,
            screen: Screen::Instances,
            task: None,
            dialog: Dialog::None,
            results: None,
            watch: None,
            watch_interval: crate::engine::run::DEFAULT_INTERVAL,
            help: false,
            message: None,
            default_offset,
            next_request: 1,
            repair_request: None,
            ticks: 0,
            quit: false,
            config_note,
            discovers: false,
        }
    }

    /// Indices of the instances the list shows: this tab, this region, matching the filter.
    pub fn visible_instances(&self) -> Vec<usize> {
        let needle = self.filter.value().to_lowercase();
        (0..self.instances.len())
            .filter(|&i| {
                let inst = &self.instances[i].instance;
                inst.kind == self.tab
                    && self
                        .region
                        .as_ref()
                        .is_none_or(|r| inst.region.as_deref() == Some(r.as_str()))
                    && (needle.is_empty()
                        || inst.id.to_lowercase().contains(&needle)
                        || inst.name.to_lowercase().contains(&needle))
            })
            .collect()
    }

    /// Every region named in the config, sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .instances
            .iter()
            .filter_map(|r| r.instance.region.clone())
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }

    pub fn current(&self) -> Option<&InstanceRow> {
        self.task.as_ref().map(|t| &self.instances[t.index])
    }

    pub fn take_request_id(&mut self) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}
