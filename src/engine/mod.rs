//! Everything that talks to databases or decides what to change. No UI imports live here.

pub mod detect;
pub mod instance;
pub mod journal;
pub mod model;
pub mod oracle;
pub mod plan;
pub mod postgres;
pub mod run;
pub mod secret;
pub mod tls;

use std::fmt;
use std::time::Duration;

/// An error meant for the operator: one or two sentences, never a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError(pub String);

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

impl EngineError {
    pub fn new(message: impl Into<String>) -> Self {
        EngineError(message.into())
    }
}

/// Session limits applied to every connection, so that nothing waits forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub statement: Duration,
    pub lock: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            statement: Duration::from_secs(30),
            lock: Duration::from_secs(5),
        }
    }
}
