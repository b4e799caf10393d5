//! Oracle as a source, on the `oracle` crate (ODPI-C, which loads the Oracle client library at
//! run time). The driver blocks, so every call runs on `spawn_blocking`, bounded by a call
//! timeout. The SQL and the row mapping (`catalogue`) are plain functions, tested without a
//! server.

mod catalogue;

pub use catalogue::*;

use super::model::{NameCase, Sequence};
use super::{Error, Timeouts};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// An Oracle source: `//host:port/service` (or a TNS alias), a user, and its password.
#[derive(Clone)]
pub struct OracleEndpoint {
    pub connect_string: String,
    pub user: String,
    password: String,
    /// Owners whose sequences are read; empty: the connecting user's schema.
    pub owners: Vec<String>,
    pub case: NameCase,
    /// Owner → destination schema, before the case rule (which then applies to names only).
    pub schema_map: HashMap<String, String>,
}

impl std::fmt::Debug for OracleEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl OracleEndpoint {
    pub fn new(connect_string: &str, user: &str, password: Option<String>) -> Self {
        OracleEndpoint {
            connect_string: connect_string.trim().to_string(),
            user: user.to_string(),
            password: password.unwrap_or_default(),
            owners: vec![],
            case: NameCase::Fold,
            schema_map: HashMap::new(),
        }
    }

    /// `oracle://user@//host:port/service`: never the password.
    pub fn display(&self) -> String {
        format!("oracle://{}@{}", self.user, self.connect_string)
    }

    /// Every sequence of the configured owners, named as the destination will know them.
    pub async fn read_sequences(&self, timeouts: &Timeouts) -> Result<Vec<Sequence>, Error> {
        let endpoint = self.clone();
        let call_timeout = timeouts.statement;
        let connect_timeout = timeouts.connect;
        let display = self.display();
        let fail = |e: String| {
            Error::failed(format!(
                "cannot read sequences from {display}: {}",
                explain(&e, connect_timeout)
            ))
        };
        let joined = |e: tokio::task::JoinError| {
            Error::failed(format!("{display}: the Oracle reader failed: {e}"))
        };
        let connector = endpoint.clone();
        let connection = tokio::task::spawn_blocking(move || connector.connect(call_timeout))
            .await
            .map_err(joined)?
            .map_err(fail)?;
        let query = {
            let connection = connection.clone();
            tokio::task::spawn_blocking(move || endpoint.read_rows(&connection))
        };
        // The call timeout should end a slow query; if the driver is still busy a little
        // later, interrupt it from here (what rainfrog does) rather than leave a thread behind.
        let rows = match tokio::time::timeout(call_timeout + Duration::from_secs(2), query).await {
            Ok(result) => result.map_err(joined)?.map_err(fail)?,
            Err(_) => {
                let _ = tokio::task::spawn_blocking(move || connection.break_execution()).await;
                return Err(fail(format!(
                    "no answer within {}; the query was interrupted",
                    humantime::format_duration(call_timeout)
                )));
            }
        };
        let sequences = rows
            .iter()
            .map(|row| to_sequence(row).map_err(|e| Error::failed(format!("{display}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        map_all(sequences, self.case, &self.schema_map)
            .map_err(|e| Error::failed(format!("{display}: {e}")))
    }

    fn connect(&self, call_timeout: Duration) -> Result<Arc<oracle::Connection>, String> {
        let connection =
            oracle::Connection::connect(&self.user, &self.password, &self.connect_string)
                .map_err(|e| e.to_string())?;
        connection
            .set_call_timeout(Some(call_timeout))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(connection))
    }

    fn read_rows(&self, connection: &oracle::Connection) -> Result<Vec<OracleRow>, String> {
        let mut flags = vec![];
        for row in connection
            .query(FLAG_COLUMNS_SQL, &[])
            .map_err(|e| e.to_string())?
        {
            flags.push(
                row.map_err(|e| e.to_string())?
                    .get::<usize, String>(0)
                    .map_err(|e| e.to_string())?,
            );
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let sql = sequences_sql(self.owners.len(), &flags);
        let params: Vec<&dyn oracle::sql_type::ToSql> = self
            .owners
            .iter()
            .map(|o| o as &dyn oracle::sql_type::ToSql)
            .collect();
        let result = connection.query(&sql, &params).map_err(|e| e.to_string())?;
        let mut rows = vec![];
        for row in result {
            let row = row.map_err(|e| e.to_string())?;
            let text = |i: usize| {
                row.get::<usize, Option<String>>(i)
                    .map_err(|e| e.to_string())
            };
            rows.push(OracleRow {
                owner: text(0)?.unwrap_or_default(),
                name: text(1)?.unwrap_or_default(),
                min_value: text(2)?.unwrap_or_default(),
                max_value: text(3)?.unwrap_or_default(),
                increment_by: text(4)?.unwrap_or_default(),
                cycle_flag: text(5)?.unwrap_or_default(),
                cache_size: text(6)?.unwrap_or_default(),
                last_number: text(7)?.unwrap_or_default(),
                table_name: text(8)?,
                column_name: text(9)?,
                scale_flag: text(10)?,
                extend_flag: text(11)?,
                session_flag: text(12)?,
            });
        }
        Ok(rows)
    }
}

/// An operator's sentence for an Oracle error; above all, a missing client library.
fn explain(error: &str, connect_timeout: std::time::Duration) -> String {
    if error.contains("DPI-1047") {
        "the Oracle client library (libclntsh.so) is not installed or not found: install Oracle \
         Instant Client (Basic or Basic Light) and set LD_LIBRARY_PATH to its folder (or add it \
         with ldconfig); PostgreSQL sources and destinations work without it"
            .to_string()
    } else if error.contains("DPI-1067") || error.contains("ORA-03156") {
        format!(
            "{error} (the call timeout was reached; the connect timeout is {})",
            humantime::format_duration(connect_timeout)
        )
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_client_library_says_how_to_install_it() {
        let e = explain(
            "DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file\"",
            std::time::Duration::from_secs(5),
        );
        assert!(
            e.contains("libclntsh.so")
                && e.contains("Instant Client")
                && e.contains("LD_LIBRARY_PATH"),
            "{e}"
        );
    }
}
