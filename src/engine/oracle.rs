//! Oracle as a source, on the `oracle` crate (ODPI-C, which loads the Oracle client library at
//! run time). The driver blocks, so every call runs on `spawn_blocking`, bounded by a call
//! timeout. The SQL and the row mapping are plain functions, tested without a server.

use super::model::{NameCase, OwnedBy, Sequence};
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
        let sql = sequences_sql(self.owners.len());
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
            });
        }
        Ok(rows)
    }
}

/// An Oracle sequence named as the destination knows it: the owner through `schema_map` (or
/// the case rule), the name and any identity column through the case rule.
pub fn map_names(
    mut seq: Sequence,
    case: NameCase,
    schema_map: &HashMap<String, String>,
) -> Sequence {
    let original = (seq.schema.clone(), seq.name.clone());
    let schema = schema_map
        .get(&seq.schema)
        .cloned()
        .unwrap_or_else(|| case.apply(&seq.schema));
    seq.name = case.apply(&seq.name);
    if let Some(owner) = seq.owned_by.as_mut() {
        owner.schema = schema.clone();
        owner.table = case.apply(&owner.table);
        owner.column = case.apply(&owner.column);
    }
    seq.schema = schema;
    if (&seq.schema, &seq.name) != (&original.0, &original.1) {
        seq.origin = Some(format!("{}.{}", original.0, original.1));
    }
    seq
}

/// Every sequence named as the destination knows it. Two Oracle sequences that would land on
/// one destination name (`HR.ORDERS` and `HR."orders"` when folding) are refused together:
/// silently picking one would set the destination from the wrong source.
pub fn map_all(
    sequences: Vec<Sequence>,
    case: NameCase,
    schema_map: &HashMap<String, String>,
) -> Result<Vec<Sequence>, String> {
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    let mut mapped = Vec::with_capacity(sequences.len());
    for seq in sequences {
        let original = format!("{}.{}", seq.schema, seq.name);
        let seq = map_names(seq, case, schema_map);
        if let Some(first) = seen.insert((seq.schema.clone(), seq.name.clone()), original.clone()) {
            return Err(format!(
                "{first} and {original} both map to the destination sequence {}; \
                 set name_case = \"exact\" or a schema_map that keeps them apart",
                seq.qualified_name()
            ));
        }
        mapped.push(seq);
    }
    Ok(mapped)
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

/// One row of the catalogue query, numbers as text: `NUMBER(28)` bounds do not fit 64 bits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OracleRow {
    pub owner: String,
    pub name: String,
    pub min_value: String,
    pub max_value: String,
    pub increment_by: String,
    pub cycle_flag: String,
    pub cache_size: String,
    pub last_number: String,
    pub table_name: Option<String>,
    pub column_name: Option<String>,
}

/// One query for every sequence of the owners (bound as :1..:n), or of the current schema, with
/// the identity column each one feeds. `LAST_NUMBER` is above every value handed out, cache
/// included; `CURRVAL` is per session and useless here.
pub fn sequences_sql(owners: usize) -> String {
    let filter = if owners == 0 {
        "s.sequence_owner = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')".to_string()
    } else {
        let binds: Vec<String> = (1..=owners).map(|i| format!(":{i}")).collect();
        format!("s.sequence_owner IN ({})", binds.join(", "))
    };
    format!(
        "SELECT s.sequence_owner, s.sequence_name, \
         TO_CHAR(s.min_value), TO_CHAR(s.max_value), TO_CHAR(s.increment_by), \
         s.cycle_flag, TO_CHAR(s.cache_size), TO_CHAR(s.last_number), \
         i.table_name, i.column_name \
         FROM all_sequences s \
         LEFT JOIN all_tab_identity_cols i \
           ON i.owner = s.sequence_owner AND i.sequence_name = s.sequence_name \
         WHERE {filter} \
         ORDER BY s.sequence_owner, s.sequence_name"
    )
}

/// A whole Oracle NUMBER as a 64-bit integer, clamped: Oracle's default MAXVALUE has 28 nines.
fn clamp_number(text: &str, what: &str) -> Result<i64, String> {
    let digits = text.trim();
    let negative = digits.starts_with('-');
    let body = digits.trim_start_matches('-');
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what} '{text}' is not a whole number"));
    }
    Ok(match body.parse::<i64>() {
        Ok(v) if negative => -v,
        Ok(v) => v,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    })
}

pub fn to_sequence(row: &OracleRow) -> Result<Sequence, String> {
    let label = format!("{}.{}", row.owner, row.name);
    let number = |text: &str, what: &str| clamp_number(text, &format!("{label}: {what}"));
    let increment = number(&row.increment_by, "INCREMENT_BY")?;
    if increment == 0 || increment == i64::MAX || increment == i64::MIN {
        return Err(format!(
            "{label}: INCREMENT_BY {} is not usable",
            row.increment_by
        ));
    }
    let min = number(&row.min_value, "MIN_VALUE")?;
    let max = number(&row.max_value, "MAX_VALUE")?;
    Ok(Sequence {
        oid: 0,
        schema: row.owner.clone(),
        name: row.name.clone(),
        data_type: "NUMBER".to_string(),
        start: if increment > 0 { min } else { max },
        min,
        max,
        increment,
        cycle: row.cycle_flag.trim() == "Y",
        cache: number(&row.cache_size, "CACHE_SIZE")?,
        // Clamped too: a LAST_NUMBER past 64 bits makes any positive offset overflow, and the
        // row is then refused as out-of-range rather than wrapped.
        last_value: Some(number(&row.last_number, "LAST_NUMBER")?),
        is_called: true,
        can_read: true,
        can_update: false,
        schema_usable: true,
        origin: None,
        owned_by: match (&row.table_name, &row.column_name) {
            (Some(table), Some(column)) => Some(OwnedBy {
                schema: row.owner.clone(),
                table: table.clone(),
                column: column.clone(),
                identity: true,
                indexed: false,
                readable: false,
            }),
            _ => None,
        },
        unlogged: false,
        unavailable: None,
        note: None,
        default_for: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, min: &str, max: &str, inc: &str, cycle: &str, last: &str) -> OracleRow {
        OracleRow {
            owner: "HR".into(),
            name: name.into(),
            min_value: min.into(),
            max_value: max.into(),
            increment_by: inc.into(),
            cycle_flag: cycle.into(),
            cache_size: "20".into(),
            last_number: last.into(),
            table_name: None,
            column_name: None,
        }
    }

    #[test]
    fn the_query_binds_owners_or_uses_the_current_schema() {
        let default = sequences_sql(0);
        assert!(default.contains("SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')"));
        assert!(default.contains("TO_CHAR(s.last_number)") && !default.contains("CURRVAL"));
        assert!(default.contains("all_tab_identity_cols"));
        assert!(sequences_sql(3).contains("s.sequence_owner IN (:1, :2, :3)"));
    }

    #[test]
    fn twenty_eight_nines_are_clamped_not_overflowed() {
        let s = to_sequence(&row(
            "ORDERS_SEQ",
            "1",
            "9999999999999999999999999999",
            "1",
            "N",
            "12345",
        ))
        .unwrap();
        assert_eq!((s.min, s.max, s.last_value), (1, i64::MAX, Some(12_345)));
        assert!(!s.cycle && s.ascending());
    }

    #[test]
    fn descending_and_cycling_sequences_map_their_bounds() {
        let s = to_sequence(&row(
            "REFUND_SEQ",
            "-999999999999999999999999999",
            "-1",
            "-3",
            "Y",
            "-300",
        ))
        .unwrap();
        assert_eq!((s.min, s.max, s.increment, s.start), (i64::MIN, -1, -3, -1));
        assert!(s.cycle && !s.ascending());
        assert_eq!(s.last_value, Some(-300));
    }

    #[test]
    fn identity_sequences_know_their_column_and_bad_numbers_are_reported() {
        let mut r = row(
            "ISEQ$$_7301",
            "1",
            "9999999999999999999999999999",
            "1",
            "N",
            "41",
        );
        r.table_name = Some("ORDERS".into());
        r.column_name = Some("ID".into());
        let s = to_sequence(&r).unwrap();
        let owner = s.owned_by.unwrap();
        assert_eq!(
            (owner.table.as_str(), owner.column.as_str(), owner.identity),
            ("ORDERS", "ID", true)
        );
        let e = to_sequence(&row("X", "1", "10", "1", "N", "1.5")).unwrap_err();
        assert!(
            e.contains("HR.X: LAST_NUMBER '1.5' is not a whole number"),
            "{e}"
        );
        assert!(to_sequence(&row("X", "1", "10", "0", "N", "1")).is_err());
    }

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

#[cfg(test)]
mod mapping_properties {
    use super::*;
    use proptest::prelude::*;

    fn oracle_sequence(owner: String, name: String) -> Sequence {
        let mut r = OracleRowFixture::row(&name);
        r.owner = owner;
        to_sequence(&r).unwrap()
    }

    struct OracleRowFixture;
    impl OracleRowFixture {
        fn row(name: &str) -> OracleRow {
            OracleRow {
                owner: "HR".into(),
                name: name.into(),
                min_value: "1".into(),
                max_value: "1000".into(),
                increment_by: "1".into(),
                cycle_flag: "N".into(),
                cache_size: "20".into(),
                last_number: "5".into(),
                table_name: None,
                column_name: None,
            }
        }
    }

    /// Oracle names: mostly unquoted (upper case), sometimes quoted with any case, spaces,
    /// quotes or non-ASCII letters.
    fn oracle_name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[A-Z][A-Z0-9_$#]{0,12}",
            1 => "[a-zA-Z][a-zA-Z0-9 \"_]{0,12}",
            1 => "[A-ZÄÖÜÉ][a-zäöüéA-Z ]{0,8}",
        ]
    }

    proptest! {
        #[test]
        fn folding_lowers_unquoted_names_and_keeps_any_name_with_a_lower_case_letter(
            name in oracle_name()
        ) {
            let folded = NameCase::Fold.apply(&name);
            if name.chars().any(char::is_lowercase) {
                prop_assert_eq!(&folded, &name);
            } else {
                prop_assert_eq!(&folded, &name.to_lowercase());
            }
            prop_assert_eq!(NameCase::Fold.apply(&folded), folded.clone(), "idempotent");
            prop_assert_eq!(NameCase::Exact.apply(&name), name);
        }

        /// Distinct Oracle sequences map to distinct destination names, or the whole read is
        /// refused naming both: never two sources for one destination.
        #[test]
        fn mapping_never_merges_two_sources_into_one_destination(
            names in proptest::collection::btree_set(
                (prop_oneof![Just("HR".to_string()), Just("hr".to_string()), Just("SALES".to_string())], oracle_name()),
                1..12,
            ),
            exact in any::<bool>(),
            map_sales in any::<bool>(),
        ) {
            let case = if exact { NameCase::Exact } else { NameCase::Fold };
            let mut schema_map = HashMap::new();
            if map_sales {
                schema_map.insert("SALES".to_string(), "hr".to_string());
            }
            let sequences: Vec<Sequence> = names
                .iter()
                .map(|(o, n)| oracle_sequence(o.clone(), n.clone()))
                .collect();
            match map_all(sequences, case, &schema_map) {
                Ok(mapped) => {
                    let distinct: std::collections::HashSet<_> =
                        mapped.iter().map(|s| (s.schema.clone(), s.name.clone())).collect();
                    prop_assert_eq!(distinct.len(), names.len());
                    for (s, (owner, name)) in mapped.iter().zip(&names) {
                        let renamed = (s.schema.as_str(), s.name.as_str()) != (owner.as_str(), name.as_str());
                        prop_assert_eq!(s.origin.is_some(), renamed, "the preview shows the Oracle name when it differs");
                    }
                }
                Err(e) => {
                    prop_assert!(e.contains("both map to the destination sequence"), "{}", e);
                    let folded: Vec<(String, String)> = names
                        .iter()
                        .map(|(o, n)| {
                            let schema = schema_map.get(o).cloned().unwrap_or_else(|| case.apply(o));
                            (schema, case.apply(n))
                        })
                        .collect();
                    let distinct: std::collections::HashSet<_> = folded.iter().collect();
                    prop_assert!(distinct.len() < names.len(), "refused only on a real collision");
                }
            }
        }
    }
}
