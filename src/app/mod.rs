//! The TUI's state and its pure update function (the Elm shape): any key flow is testable
//! without a terminal.

mod dialog;
pub mod keymap;
mod keys;
pub mod msg;
pub mod state;
pub mod update;
mod watching;
