//! seqsync: set destination sequences from the source's values plus an offset, all or nothing.
//!
//! # Where things live
//! * [`engine`] decides and talks to databases; it imports no front end.
//!   * `engine::run`: the use cases, the only entry points of the front ends (resolve, gate,
//!     plan, apply, undo, recover, check, observe, count).
//!   * `engine::model`, `engine::offset`: the shared vocabulary; `engine::plan`: the pure
//!     planner, with `engine::matching` (which sequence pairs with which), `engine::behind`
//!     (the behind-data check) and `engine::select` (include/exclude); `engine::saga`: the
//!     apply saga's pure decisions; `engine::Error`: one error type whose kind decides exit
//!     codes.
//!   * `engine::postgres` (a folder, one file per concern) and `engine::oracle`: the adapters;
//!     `engine::detect`, `engine::instance`: replication status and the prerequisites;
//!     `engine::journal`, `engine::secret`, `engine::tls`; `engine::text` and
//!     `engine::untrusted`: text and JSON from outside, shown escaped and bounded.
//! * Front ends: [`cli`] (one file per subcommand, exit codes in `cli/exit.rs`) and the TUI:
//!   [`tui`] (terminal and event loop) → [`app`] (pure state and `update`) → [`ui`] (pure
//!   view), with [`worker`] carrying effects to `engine::run` and answers back.
//! * [`report`]: tables, JSON and CSV; [`config`]: settings; [`log`]: the log file.
//!
//! # How a sync flows
//! `cli/sync.rs` (or a key in `app::update` → `worker`) calls `engine::run::resolve` for the
//! endpoints, then `engine::run::plan`: settle interrupted runs on the destination, check the
//! prerequisites within a deadline, read both sides, `engine::plan`, journal the plan. After the
//! operator confirms, `Prepared::execute` journals the intent and runs the saga in
//! `engine::postgres::apply`; the rows come back with before and after, and the CLI prints
//! them or the TUI shows its results screen.

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod log;
pub mod metrics;
pub mod report;
pub mod tui;
pub mod ui;
pub mod worker;
