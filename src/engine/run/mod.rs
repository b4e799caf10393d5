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
mod conninfo;
mod context;
mod guard;
mod history;
mod instances;
mod rates;
mod recover;
mod repair;
mod status;
mod sync;
mod target;
mod undo;
mod watch;

pub use crate::engine::detect::ObserveGate;
pub use crate::engine::postgres::Role;
pub use check::{behind_data, check, Checked};
pub use conninfo::{conninfo, Reached};
pub use context::{Context, Level, Notice, Notify};
pub use guard::{guard, Fleet, GuardEvent, GuardOptions, InstanceWatch, Report};
pub use history::{history, overview, Overview, HISTORY_RUNS};
pub use instances::{discover, find, list, Found, Sources};
pub use rates::{rates, DEFAULT_HORIZON, DEFAULT_SAMPLE};
pub use recover::{recover, settle, Recovered};
pub use repair::{repair, repair_target, RepairOptions, RepairSource, RepairTarget};
pub use status::{count, gate, observe, observe_all, observe_through, Counts};
pub use sync::{plan, Outcome, Prepared};
pub use target::{destination, resolve, resolve_pair, source, SourceEndpoint, Target, AD_HOC};
pub use undo::{undo, undo_options};
pub use watch::{watch, Event, Round, WatchOptions, Watched, DEFAULT_GIVE_UP, DEFAULT_INTERVAL};
