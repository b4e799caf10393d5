//! seqsync: set destination sequences from the source's values plus an offset, all or nothing.

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod log;
pub mod report;
pub mod tui;
pub mod ui;
pub mod worker;
