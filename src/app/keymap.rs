//! The keys, once: the help overlay and the footer hints both read this table.

use super::state::{Dialog, Screen};

pub struct KeyHelp {
    pub keys: &'static str,
    pub action: &'static str,
}

impl KeyHelp {
    /// The action's first words, for the one-line footer.
    pub fn hint(&self) -> &'static str {
        let end = self
            .action
            .char_indices()
            .filter(|(_, c)| *c == ' ')
            .nth(1)
            .map_or(self.action.len(), |(i, _)| i);
        &self.action[..end]
    }
}

const fn k(keys: &'static str, action: &'static str) -> KeyHelp {
    KeyHelp { keys, action }
}

pub const GLOBAL: &[KeyHelp] = &[
    k("?", "show or hide this help"),
    k("q / Ctrl-C", "quit (the terminal is restored)"),
    k("Esc", "back, cancel, or close"),
    k("↑↓ / j k", "move; PgUp PgDn Home End jump"),
];

pub const INSTANCES: &[KeyHelp] = &[
    k("Enter", "open the instance's task management"),
    k("Tab / ← →", "Data Synchronization / Data Migration"),
    k("r", "next region (all → each region)"),
    k("/", "filter by id or name (Enter keeps, Esc clears)"),
    k("R / F5", "read every status again"),
];

pub const TASK: &[KeyHelp] = &[
    k("↑↓", "select a step (Incremental Write has the tabs)"),
    k("Tab / ← →", "Basic Information / History"),
    k("s", "Synchronize Sequence"),
    k("R / F5", "read status and counts again"),
    k("Esc", "back to the instance list"),
];

pub const OFFSET: &[KeyHelp] = &[
    k("0-9", "type the Sequence Offset (checked as you type)"),
    k("Enter", "read both sides and show the plan"),
    k("Esc", "cancel"),
];

pub const PLANNING: &[KeyHelp] = &[k("Esc", "stop waiting; nothing is changed")];

pub const PREVIEW: &[KeyHelp] = &[
    k("Enter / y", "apply the plan"),
    k("↑↓ PgUp PgDn", "scroll the rows"),
    k("Esc / n", "cancel; nothing is changed"),
];

pub const APPLYING: &[KeyHelp] = &[k("Esc", "cancel: what was set is rolled back")];

pub const RESULTS: &[KeyHelp] = &[
    k("/", "filter by name or status"),
    k("o", "sort by name, status, change"),
    k(
        "e / E",
        "export the results to CSV / JSON in the current folder",
    ),
    k("Esc / Enter / c", "close, back to Basic Information"),
];

/// The keys that matter right now, most specific first.
pub fn current(screen: Screen, dialog: &Dialog) -> &'static [KeyHelp] {
    match dialog {
        Dialog::Offset { .. } => OFFSET,
        Dialog::Planning { .. } => PLANNING,
        Dialog::Preview { .. } => PREVIEW,
        Dialog::Applying { .. } => APPLYING,
        Dialog::None => match screen {
            Screen::Instances => INSTANCES,
            Screen::Task => TASK,
            Screen::Results => RESULTS,
        },
    }
}
