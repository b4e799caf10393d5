//! The exit policy, in one place: a command ends `Done` (complete, or with rows left out) or
//! with an engine error, whose kind alone decides the code. The error is printed here, once.

use crate::engine::text::shown;
use crate::engine::{Error, ErrorKind};

/// Done, or nothing to do.
pub const OK: u8 = 0;
/// Failed; nothing was applied.
pub const FAILED: u8 = 1;
/// Usage, configuration or prerequisite error; nothing was tried.
pub const USAGE: u8 = 2;
/// Applied, but some rows were not (out-of-range, no-privilege, missing, behind-data).
pub const PARTIAL_ROWS: u8 = 3;
/// Failed, and the rollback could not restore every sequence: look at the destination.
pub const ROLLBACK_INCOMPLETE: u8 = 4;

/// How a command that did its work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Complete,
    /// Some rows were not applied, or (check) some sequences are behind their data.
    RowsLeftOut,
    /// Listed, but some source of instances could not be asked (a DTS region and tab), or
    /// part of its answer could not be read.
    Unanswered,
}

impl Done {
    pub fn rows_left_out(left_out: bool) -> Done {
        if left_out {
            Done::RowsLeftOut
        } else {
            Done::Complete
        }
    }
}

pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage | ErrorKind::Refused => USAGE,
        ErrorKind::Failed => FAILED,
        ErrorKind::RollbackIncomplete => ROLLBACK_INCOMPLETE,
    }
}

/// Logs how `verb` ended, prints its error, and returns the exit code.
pub fn finish(verb: &str, result: Result<Done, Error>) -> u8 {
    let code = match &result {
        Ok(Done::Complete) => OK,
        Ok(Done::RowsLeftOut | Done::Unanswered) => PARTIAL_ROWS,
        Err(e) => code(e.kind),
    };
    match &result {
        Ok(_) => crate::log::line("INFO", &format!("{verb} finished with exit code {code}")),
        Err(e) => {
            crate::log::line("ERROR", &format!("{verb}: {} (exit {code})", e.message));
            eprintln!("seqsync: {}", shown(&e.message));
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_code() {
        assert_eq!(code(ErrorKind::Usage), 2);
        assert_eq!(code(ErrorKind::Refused), 2);
        assert_eq!(code(ErrorKind::Failed), 1);
        assert_eq!(code(ErrorKind::RollbackIncomplete), 4);
        assert_eq!(finish("test", Ok(Done::RowsLeftOut)), 3);
        assert_eq!(finish("test", Ok(Done::Complete)), 0);
        assert_eq!(finish("test", Ok(Done::Unanswered)), 3);
        assert_eq!(finish("test", Err(Error::refused("no"))), 2);
    }
}
