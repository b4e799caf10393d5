//! The Oracle catalogue, without a server: the query, its rows, and how each becomes a
//! sequence named as the destination knows it.

use crate::engine::model::{Extras, Name, NameCase, OwnedBy, Sequence};
use std::collections::HashMap;

/// An Oracle sequence named as the destination knows it: the owner through `schema_map` (or
/// the case rule), the name and any identity column through the case rule.
pub fn map_names(
    mut seq: Sequence,
    case: NameCase,
    schema_map: &HashMap<String, String>,
) -> Sequence {
    let original = (seq.schema.clone(), seq.name.clone());
    let schema = schema_map
        .get(seq.schema.as_str())
        .cloned()
        .unwrap_or_else(|| case.apply(&seq.schema));
    seq.name = case.apply(&seq.name).into();
    if let Some(owner) = seq.extras.as_mut().and_then(|e| e.owned_by.as_mut()) {
        owner.schema = schema.clone();
        owner.table = case.apply(&owner.table);
        owner.column = case.apply(&owner.column);
    }
    seq.schema = schema.into();
    if (&seq.schema, &seq.name) != (&original.0, &original.1) {
        seq.extras_mut().origin = Some(format!("{}.{}", original.0, original.1).into());
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
    let mut seen: HashMap<(Name, Name), String> = HashMap::new();
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
    /// `Y` for a scalable sequence (18c+; NULL where the server has no such column).
    pub scale_flag: Option<String>,
    pub extend_flag: Option<String>,
    /// `Y` for a session sequence (18c+).
    pub session_flag: Option<String>,
}

/// The flag columns of ALL_SEQUENCES this server has (none before 18c).
pub const FLAG_COLUMNS_SQL: &str = "SELECT column_name FROM all_tab_columns \
     WHERE owner = 'SYS' AND table_name = 'ALL_SEQUENCES' \
     AND column_name IN ('SCALE_FLAG', 'EXTEND_FLAG', 'SESSION_FLAG')";

/// One query for every sequence of the owners (bound as :1..:n), or of the current schema, with
/// the identity column each one feeds and the flag columns `flags` names (those the server
/// has; NULL for the others). `LAST_NUMBER` is above every value handed out, cache included;
/// `CURRVAL` is per session and useless here.
pub fn sequences_sql(owners: usize, flags: &[&str]) -> String {
    let flag = |column: &str| {
        if flags.iter().any(|f| f.eq_ignore_ascii_case(column)) {
            format!("s.{}", column.to_ascii_lowercase())
        } else {
            "NULL".to_string()
        }
    };
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
         i.table_name, i.column_name, {}, {}, {} \
         FROM all_sequences s \
         LEFT JOIN all_tab_identity_cols i \
           ON i.owner = s.sequence_owner AND i.sequence_name = s.sequence_name \
         WHERE {filter} \
         ORDER BY s.sequence_owner, s.sequence_name",
        flag("SCALE_FLAG"),
        flag("EXTEND_FLAG"),
        flag("SESSION_FLAG"),
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
    let cycle = row.cycle_flag.trim() == "Y";
    // Clamped too: a LAST_NUMBER past 64 bits makes any positive offset overflow, and the
    // row is then refused as out-of-range rather than wrapped.
    let last_number = number(&row.last_number, "LAST_NUMBER")?;
    let yes = |flag: &Option<String>| flag.as_deref().map(str::trim) == Some("Y");
    let unavailable = if yes(&row.scale_flag) {
        Some(format!(
            "it is a scalable sequence (SCALE{}): every value carries a 6-digit instance and \
             session prefix, so LAST_NUMBER is not the last key handed out; set the destination \
             by hand above its column's largest value",
            if yes(&row.extend_flag) { " EXTEND" } else { "" }
        ))
    } else if yes(&row.session_flag) {
        Some(
            "it is a session sequence (SESSION): every session counts on its own from the start, \
             so there is no value to carry over"
                .to_string(),
        )
    } else {
        None
    };
    // LAST_NUMBER is where the next cache starts: past the bound, a CYCLE sequence's next
    // value is the other bound.
    let wrapped_to = match cycle {
        true if increment > 0 && last_number > max => Some(min),
        true if increment < 0 && last_number < min => Some(max),
        _ => None,
    };
    let note = wrapped_to.map(|next| {
        format!(
            "the source's LAST_NUMBER {} is past its {} {}: this CYCLE sequence has wrapped, \
             so its next value {next} is taken as the source value",
            row.last_number.trim(),
            if increment > 0 {
                "MAXVALUE"
            } else {
                "MINVALUE"
            },
            if increment > 0 { max } else { min },
        )
    });
    Ok(Sequence {
        oid: 0,
        schema: row.owner.as_str().into(),
        name: row.name.as_str().into(),
        data_type: "NUMBER".into(),
        start: if increment > 0 { min } else { max },
        min,
        max,
        increment,
        cycle,
        cache: number(&row.cache_size, "CACHE_SIZE")?,
        last_value: if unavailable.is_some() {
            None
        } else {
            Some(wrapped_to.unwrap_or(last_number))
        },
        is_called: wrapped_to.is_none(),
        can_read: true,
        can_update: false,
        schema_usable: true,
        unlogged: false,
        extras: Extras {
            owned_by: match (&row.table_name, &row.column_name) {
                (Some(table), Some(column)) => Some(OwnedBy {
                    schema: row.owner.clone(),
                    table: table.clone(),
                    column: column.clone(),
                    identity: true,
                    indexed: false,
                    readable: false,
                    column_type: String::new(),
                }),
                _ => None,
            },
            unavailable: unavailable.map(Into::into),
            note: note.map(Into::into),
            ..Extras::default()
        }
        .boxed(),
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
            scale_flag: None,
            extend_flag: None,
            session_flag: None,
        }
    }

    #[test]
    fn the_query_binds_owners_or_uses_the_current_schema() {
        let default = sequences_sql(0, &[]);
        assert!(default.contains("SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')"));
        assert!(default.contains("TO_CHAR(s.last_number)") && !default.contains("CURRVAL"));
        assert!(default.contains("all_tab_identity_cols"));
        assert!(sequences_sql(3, &[]).contains("s.sequence_owner IN (:1, :2, :3)"));
    }

    #[test]
    fn the_query_reads_only_the_flag_columns_the_server_has() {
        let old = sequences_sql(0, &[]);
        assert!(
            old.contains("i.column_name, NULL, NULL, NULL FROM"),
            "an 12c server has no flag columns: {old}"
        );
        let new = sequences_sql(0, &["SCALE_FLAG", "EXTEND_FLAG", "SESSION_FLAG"]);
        assert!(
            new.contains("i.column_name, s.scale_flag, s.extend_flag, s.session_flag FROM"),
            "{new}"
        );
        let partial = sequences_sql(0, &["SCALE_FLAG"]);
        assert!(partial.contains("s.scale_flag, NULL, NULL"), "{partial}");
        assert!(FLAG_COLUMNS_SQL.contains("'ALL_SEQUENCES'"));
    }

    #[test]
    fn scalable_and_session_sequences_have_no_value_and_say_why() {
        let mut scalable = row(
            "SCALED",
            "1",
            "9999999999999999999999999999",
            "1",
            "N",
            "500",
        );
        scalable.scale_flag = Some("Y".into());
        scalable.extend_flag = Some("Y".into());
        let s = to_sequence(&scalable).unwrap();
        assert_eq!(s.last_value, None);
        let why = s.unavailable().unwrap();
        assert!(why.contains("scalable sequence (SCALE EXTEND)"), "{why}");
        let mut session = row("PER_SESSION", "1", "1000", "1", "N", "7");
        session.session_flag = Some("Y".into());
        session.scale_flag = Some("N".into());
        let s = to_sequence(&session).unwrap();
        assert!(s
            .unavailable()
            .unwrap()
            .contains("session sequence (SESSION)"));
        let mut plain = row("PLAIN", "1", "1000", "1", "N", "7");
        plain.scale_flag = Some("N".into());
        plain.session_flag = Some("N".into());
        let s = to_sequence(&plain).unwrap();
        assert_eq!((s.last_value, s.unavailable()), (Some(7), None));
    }

    #[test]
    fn a_cycle_sequence_past_its_bound_is_taken_as_wrapped_and_says_so() {
        let s = to_sequence(&row("RING", "1", "1000", "1", "Y", "1001")).unwrap();
        assert_eq!((s.last_value, s.is_called), (Some(1), false));
        let note = s.note().unwrap();
        assert!(
            note.contains("LAST_NUMBER 1001 is past its MAXVALUE 1000") && note.contains("wrapped"),
            "{note}"
        );
        let s = to_sequence(&row("DOWN", "-1000", "-1", "-1", "Y", "-1001")).unwrap();
        assert_eq!((s.last_value, s.is_called), (Some(-1), false));
        assert!(s.note().unwrap().contains("MINVALUE -1000"));
        // Without CYCLE, past the bound is exhausted, not wrapped.
        let s = to_sequence(&row("FULL", "1", "1000", "1", "N", "1001")).unwrap();
        assert_eq!((s.last_value, s.note()), (Some(1001), None));
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
        let owner = s.owned_by().unwrap();
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
                scale_flag: None,
                extend_flag: None,
                session_flag: None,
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
                        prop_assert_eq!(s.origin().is_some(), renamed, "the preview shows the Oracle name when it differs");
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
