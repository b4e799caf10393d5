//! The engine's one error type: the operator's sentence and the kind of failure it is. Front
//! ends never choose an exit code or a colour by reading the words; they read the kind
//! (`cli/exit.rs` maps it to 0–4 once).

use thiserror::Error as ThisError;

/// What sort of failure an [`Error`] is, from the operator's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (a bad URL, engine, offset or config; no confirmation).
    /// Nothing was tried.
    Usage,
    /// The task may not be synchronized now: a prerequisite or the pair is refused.
    /// Nothing was tried.
    Refused,
    /// Something failed; nothing of the run remains in the destination.
    Failed,
    /// Something failed and the rollback could not restore every sequence: look at the
    /// destination.
    RollbackIncomplete,
}

/// An error meant for the operator: one or two sentences, never a password.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Refused, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Failed, message)
    }

    pub fn rollback_incomplete(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::RollbackIncomplete, message)
    }

    /// The same error, its sentence led by where it happened (`source: …`).
    pub fn context(self, prefix: &str) -> Self {
        Error {
            message: format!("{prefix}: {}", self.message),
            ..self
        }
    }

    /// The same sentence as another kind.
    pub fn as_kind(self, kind: ErrorKind) -> Self {
        Error { kind, ..self }
    }
}
