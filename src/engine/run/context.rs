//! What every use case runs in, and how it tells the operator things on the way.

use crate::engine::journal::Journal;
use crate::engine::Timeouts;

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
