//! Everything that talks to databases or decides what to change. No front end is imported here
//! (tests/architecture.rs checks it); the front ends come in through `run`, the use cases.

pub mod behind;
pub mod conninfo;
pub mod detect;
pub mod dts;
pub mod engines;
mod error;
pub mod instance;
pub mod journal;
pub mod matching;
pub mod model;
pub mod offset;
pub mod oracle;
pub mod plan;
pub mod postgres;
pub mod repair;
pub mod run;
pub mod saga;
pub mod secret;
pub mod select;
pub mod text;
pub mod tls;
pub mod untrusted;
pub mod watch;

pub use error::{Error, ErrorKind};
use std::time::Duration;

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
