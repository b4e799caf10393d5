//! The keys, once: the help overlay and the footer hints both read this table.

use super::state::{Dialog, OffsetPurpose, Screen, State, TaskTab};

pub struct KeyHelp {
    pub keys: &'static str,
    /// One or two words for the footer.
    pub hint: &'static str,
    /// The whole sentence for the help overlay.
    pub action: &'static str,
}

const fn k(keys: &'static str, hint: &'static str, action: &'static str) -> KeyHelp {
    KeyHelp { keys, hint, action }
}

pub const GLOBAL: &[KeyHelp] = &[
    k("?", "help", "show or hide this help"),
    k("q / Ctrl-C", "quit", "quit (the terminal is restored)"),
    k("Esc", "back", "back, cancel, or close"),
    k("↑↓ / j k", "move", "move; PgUp PgDn Home End jump"),
];

pub const INSTANCES: &[KeyHelp] = &[
    k("Enter", "open", "open the instance's task management"),
    k("Tab / ← →", "tab", "Data Synchronization / Data Migration"),
    k("r", "region", "next region (all → each region)"),
    k(
        "/",
        "filter",
        "filter by id or name (Enter keeps, Esc clears)",
    ),
    k("R / F5", "refresh", "read every status again"),
];

pub const TASK: &[KeyHelp] = &[
    k(
        "↑↓",
        "step",
        "select a step (Incremental Write has the tabs)",
    ),
    k("Tab / ← →", "tab", "Basic Information / History"),
    k("s", "Synchronize", "Synchronize Sequence"),
    k(
        "r",
        "Repair",
        "Repair from Data: set each sequence past its columns' data (any task status)",
    ),
    k(
        "w",
        "Keep Ahead",
        "Keep Sequences Ahead: sync again every round while the task runs",
    ),
    k("R / F5", "refresh", "read status and counts again"),
    k(
        "PgDn / PgUp",
        "scroll",
        "Basic Information taller than the screen: down a page / back to the top",
    ),
];

pub const MARGIN: &[KeyHelp] = &[
    k(
        "0-9",
        "margin",
        "type the margin: ids kept free past each column's data (checked as you type)",
    ),
    k(
        "Enter",
        "plan",
        "read the data and show the plan; nothing changes yet",
    ),
    k("Esc", "cancel", "close; nothing is read or changed"),
];

pub const OFFSET: &[KeyHelp] = &[
    k(
        "0-9",
        "offset",
        "type the Sequence Offset (checked as you type)",
    ),
    k(
        "Enter",
        "go",
        "show the plan (Synchronize) or start the rounds (Keep Ahead)",
    ),
    k(
        "Tab",
        "suggestion",
        "use the offset the measured write rates suggest",
    ),
    k("Esc", "cancel", "cancel"),
];

pub const WATCH: &[KeyHelp] = &[
    k("↑↓ PgUp PgDn", "scroll", "scroll the sequences"),
    k(
        "Esc",
        "stop…",
        "stop after the round under way (never in the middle of one); asks first",
    ),
    k(
        "q",
        "stop and quit…",
        "stop after the round under way, then quit; asks first",
    ),
];

pub const WATCH_CONFIRM_STOP: &[KeyHelp] = &[
    k("y / Enter", "stop", "stop after the round under way"),
    k(
        "n / Esc",
        "keep guarding",
        "go on keeping the sequences ahead",
    ),
];

pub const TASK_HISTORY: &[KeyHelp] = &[
    k("↑↓", "run", "select a run"),
    k("u", "undo", "undo the selected applied run, all or nothing"),
    k("Tab / ← →", "tab", "back to Basic Information"),
    k("R / F5", "refresh", "read status and counts again"),
    k("Esc", "back", "back to the instance list"),
];

pub const CONFIRM_UNDO: &[KeyHelp] = &[
    k("Enter / y", "undo", "put the run's before values back"),
    k("Esc / n", "cancel", "cancel; nothing is changed"),
];

pub const PLANNING: &[KeyHelp] = &[k("Esc", "stop", "stop waiting; nothing is changed")];

pub const PREVIEW: &[KeyHelp] = &[
    k("Enter / y", "apply", "apply the plan as chosen"),
    k(
        "Space",
        "in/out",
        "put the row in, or leave it out (excluded)",
    ),
    k("a", "all", "leave every row out, or put every row back in"),
    k("↑↓ PgUp PgDn", "scroll", "scroll the rows"),
    k("Esc / n", "cancel", "cancel; nothing is changed"),
];

/// The preview of a plan with nothing to change: Enter records that, it applies nothing.
pub const PREVIEW_NOTHING: &[KeyHelp] = &[
    k(
        "Enter / y",
        "record",
        "record in the journal that nothing needed changing",
    ),
    k(
        "Space",
        "in/out",
        "put the row in, or leave it out (excluded)",
    ),
    k("a", "all", "leave every row out, or put every row back in"),
    k("↑↓ PgUp PgDn", "scroll", "scroll the rows"),
    k("Esc / n", "close", "close; nothing is changed"),
];

pub const APPLYING: &[KeyHelp] = &[k(
    "Esc",
    "cancel and roll back",
    "cancel: what was set is rolled back",
)];

pub const RESULTS: &[KeyHelp] = &[
    k(
        "H",
        "history/undo",
        "this run in History, where u undoes it",
    ),
    k("/", "filter", "filter by name or status"),
    k("o", "sort", "sort by name, status, change"),
    k(
        "e / E",
        "export",
        "export the results to CSV / JSON in the current folder",
    ),
    k(
        "Esc / Enter / c",
        "close",
        "close, back to Basic Information",
    ),
];

/// The keys that matter right now, most specific first.
pub fn current(state: &State) -> &'static [KeyHelp] {
    let on_history = state
        .task
        .as_ref()
        .is_some_and(|t| t.tab == TaskTab::History);
    match &state.dialog {
        Dialog::Offset {
            purpose: OffsetPurpose::Repair,
            ..
        } => MARGIN,
        Dialog::Offset { .. } => OFFSET,
        Dialog::Planning { .. } => PLANNING,
        Dialog::Preview { choice, .. } if choice.changes() == 0 => PREVIEW_NOTHING,
        Dialog::Preview { .. } => PREVIEW,
        Dialog::Applying { .. } => APPLYING,
        Dialog::ConfirmUndo { .. } => CONFIRM_UNDO,
        Dialog::None => match state.screen {
            Screen::Instances => INSTANCES,
            Screen::Task if on_history => TASK_HISTORY,
            Screen::Task => TASK,
            Screen::Results => RESULTS,
            Screen::Watch
                if state
                    .watch
                    .as_ref()
                    .is_some_and(|w| w.confirming_stop.is_some()) =>
            {
                WATCH_CONFIRM_STOP
            }
            Screen::Watch => WATCH,
        },
    }
}
