//! Server errors in an operator's words: the server's message, detail and hint, and what a
//! timeout or a lost connection means for the run.

use crate::engine::Timeouts;

const READ_ONLY_HINT: &str = "the destination is read-only (a hot standby, or \
     default_transaction_read_only is on): connect to the primary, or allow changes";

/// SQLSTATE 26000 on a statement seqsync prepared a moment before, or 42P05 on one it is
/// preparing on a session it just opened: only a pooler that hands each transaction to another
/// server session, and keeps server sessions from one client to the next, loses or keeps them
/// (PgBouncer before 1.21 in transaction mode). A run needs one session throughout: its
/// applier lock and its batches.
const POOLED_HINT: &str = "this connection goes through a pooler that hands each transaction \
     to another server session (PgBouncer pool_mode = transaction, say); seqsync needs one \
     server session for a whole run: connect to the server directly, or through a pool in \
     session mode";

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
        Some("26000") | Some("42P05") => format!("{base}: {POOLED_HINT}"),
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

/// The next thing a DBA checks after a connection failed, as psql's errors say it; `place` is
/// `host "h", port p`.
pub(super) fn next_step(e: &tokio_postgres::Error, place: &str) -> Option<String> {
    if let Some(db) = e.as_db_error() {
        return match db.code().code() {
            "28P01" => Some(
                "check the user and its password (the URL, password_env, PGPASSWORD or \
                 ~/.pgpass)"
                    .to_string(),
            ),
            "28000" if db.message().contains("certificate") => Some(
                "the server requires a client certificate: give sslcert=FILE and sslkey=FILE \
                 (or put them in ~/.postgresql/postgresql.crt and postgresql.key)"
                    .to_string(),
            ),
            "28000" => Some(
                "the server's pg_hba.conf has no line that lets this user reach this database \
                 from this address (with this TLS mode): ask for one, or connect as pg_hba.conf \
                 allows"
                    .to_string(),
            ),
            "3D000" => Some("check the database name".to_string()),
            "53300" => Some(
                "the server has no connection slot left (max_connections): try again when \
                 sessions have ended"
                    .to_string(),
            ),
            _ => None,
        };
    }
    let mut kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        source = cause.source();
    }
    let chain = error_chain(e).to_ascii_lowercase();
    match kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return Some(format!(
                "is the server running on {place} and accepting TCP/IP connections?"
            ))
        }
        Some(std::io::ErrorKind::TimedOut) => return Some(unanswered(place)),
        _ => {}
    }
    if chain.contains("lookup address") || chain.contains("name or service not known") {
        Some(format!(
            "the host name does not resolve ({place}): check its spelling and this host's DNS"
        ))
    } else if chain.contains("server does not support tls") {
        Some(
            "the server does not offer TLS: use sslmode=prefer (or disable), or turn ssl on \
             in its postgresql.conf"
                .to_string(),
        )
    } else if chain.contains("alert")
        && (chain.contains("unknownca") || chain.contains("certificate"))
    {
        Some(
            "the server did not accept this client's certificate: check sslcert and sslkey, and \
             that the server's ssl_ca_file holds the CA that signed it"
                .to_string(),
        )
    } else if chain.contains("certificate") {
        Some(
            "the server's certificate is not trusted as asked: give sslrootcert=FILE with the \
             CA that signed it (sslmode=verify-full also checks the host name)"
                .to_string(),
        )
    } else if chain.contains("password missing") {
        Some(
            "the server asks for a password: give one through password_env, PGPASSWORD or \
             ~/.pgpass"
                .to_string(),
        )
    } else {
        None
    }
}

/// What to check when a server never answered.
pub(super) fn unanswered(place: &str) -> String {
    format!(
        "is {place} reachable from here (a firewall or security group), and is the server \
         up and not overloaded?"
    )
}
