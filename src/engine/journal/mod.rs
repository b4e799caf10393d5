//! The journal: one JSON object per line for every plan and apply, fsynced before we go on.
//! The `apply-started` entry is written before the first sequence changes, so a run that was
//! killed can always be found and checked against the destination.

mod compact;
mod entry;
pub mod format;
mod index;
mod read;
mod store;
#[cfg(test)]
mod tests;

pub use compact::Compacted;
pub use entry::{
    current_user, hostname, new_run_id, run_writer, unfinished, writer_alive, JournalEntry,
    JournalEvent, RunContext,
};
pub use read::Stats;
pub use store::{Journal, Rotated, DEFAULT_KEEP_ARCHIVES, DEFAULT_ROTATE_AT};
