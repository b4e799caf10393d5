//! `seqsync example-config`: the example config, from the binary itself, so that a jump host
//! with only the binary can start one (`seqsync example-config > seqsync.toml`).

use super::exit::Done;
use crate::engine::Error;

/// The example shipped in the source tree, compiled in.
pub const EXAMPLE: &str = include_str!("../../assets/seqsync.example.toml");

pub fn run() -> Result<Done, Error> {
    crate::report::print(EXAMPLE);
    Ok(Done::Complete)
}
