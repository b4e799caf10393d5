//! The use cases, the only entry points the front ends call: the CLI's subcommands and the
//! TUI's worker both come here, so what a run does (what it checks, settles and journals) does
//! not depend on which front end started it.
//!
//! A run flows: [`resolve`] an instance or an ad-hoc pair into endpoints (warnings go to the
//! caller's [`Notify`]) → [`plan`] settles interrupted runs on that destination, checks the
//! prerequisites within a deadline, reads both sides, plans and journals the plan →
//! [`Prepared::execute`] journals the intent and applies all or nothing. [`undo`], [`recover`]
//! and [`check`] start from the journal or the destination; [`observe`] and [`count`] feed the
//! instance list and Basic Information.

mod check;
mod recover;
mod status;
mod sync;
mod target;
mod undo;

pub use check::{check, Checked};
pub use recover::{recover, settle, Recovered};
pub use status::{count, gate, observe, observe_all, Counts};
pub use sync::{plan, Outcome, Prepared};
pub use target::{destination, resolve, resolve_pair, SourceEndpoint, Target};
pub use undo::{undo, undo_options};

use super::journal::Journal;
use super::Timeouts;

/// What every use case needs besides its arguments.
#[derive(Debug, Clone)]
pub struct Context {
    pub timeouts: Timeouts,
    pub journal: Journal,
    /// Sequences per apply transaction.
    pub batch_size: usize,
}

/// Something the operator should know while a use case goes on: shown at once by the CLI,
/// collected into the screen's message by the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Worth knowing; nothing is wrong with the run (an ignored ~/.pgpass, say).
    Warning,
    /// An interrupted run was settled to all or nothing.
    Settled,
    /// An interrupted run could not be settled: look at the destination.
    Trouble,
}

impl Notice {
    pub fn warning(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            level: Level::Warning,
        }
    }
}

/// Where notices go.
pub type Notify<'a> = &'a (dyn Fn(Notice) + Sync);
