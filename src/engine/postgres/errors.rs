//! Server errors in an operator's words: the server's message, detail and hint, and what a
//! timeout or a lost connection means for the run.

use crate::engine::Timeouts;

const READ_ONLY_HINT: &str = "the destination is read-only (a hot standby, or \
     default_transaction_read_only is on): connect to the primary, or allow changes";

/// An error as an operator reads it: the server's message, detail and hint, or the cause chain.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_string();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        text.push_str(&format!(" [SQLSTATE {}]", db.code().code()));
        text
    } else {
        error_chain(e)
    }
}

pub(super) fn describe_with_timeouts(e: &tokio_postgres::Error, timeouts: &Timeouts) -> String {
    let base = describe(e);
    match e.code().map(|c| c.code()) {
        Some("55P03") => format!(
            "{base}: another session holds a lock on a destination sequence longer than lock_timeout ({})",
            humantime::format_duration(timeouts.lock)
        ),
        Some("57014") => format!(
            "{base}: statement_timeout ({}) reached",
            humantime::format_duration(timeouts.statement)
        ),
        Some("25006") => format!("{base}: {READ_ONLY_HINT}"),
        Some("57P01") | Some("57P02") | Some("57P03") => {
            format!("{base}: the server ended the session")
        }
        _ if e.is_closed() => format!("{base}: the connection was lost"),
        _ => base,
    }
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
