//! The catalogue query that opens every plan: each user sequence's names, bounds, privileges
//! and owning column, with its state where the server can read it in the same query, and what
//! seqsync keeps of each row.

use crate::engine::model::{type_name, Extras, OwnedBy, Sequence};

const CATALOGUE_SQL: &str = r#"
SELECT c.oid,
       n.nspname,
       c.relname,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle, s.seqcache,
       n.usable AND has_sequence_privilege(c.oid, 'SELECT') AS can_read,
       n.usable AND has_sequence_privilege(c.oid, 'UPDATE') AS can_update,
       n.usable AS schema_usable,
       tn.nspname AS owner_schema, t.relname AS owner_table, a.attname AS owner_column,
       d.deptype = 'i' AS owner_identity,
       format_type(a.atttypid, NULL) AS owner_column_type,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
               WHERE x.indrelid = t.oid AND x.indkey[0] = a.attnum AND x.indisvalid) AS owner_indexed,
       COALESCE(has_column_privilege(t.oid, a.attnum, 'SELECT')
                AND has_schema_privilege(tn.oid, 'USAGE'), false) AS owner_readable,
       c.relpersistence = 'u' AS unlogged,
       pg_catalog.pg_is_in_recovery() AS in_recovery/*DATA COLUMNS*/
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN (SELECT oid, nspname, has_schema_privilege(oid, 'USAGE') AS usable
      FROM pg_catalog.pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema')
        AND nspname NOT LIKE 'pg\_toast%'
        AND nspname NOT LIKE 'pg\_temp\_%') n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_depend d
       ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
/*DATA JOIN*/
WHERE c.relpersistence <> 't'
  AND c.oid NOT IN (SELECT e.objid FROM pg_catalog.pg_depend e
                    WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
"#;

/// Where each column of the catalogue query is, found by name once per statement. `Row::get`
/// by name searches the columns on every call: at 10,000 sequences a plan spent about 9 ms of
/// its 90 ms of client CPU there.
macro_rules! catalogue_columns {
    ($($column:ident),* $(,)?) => {
        pub(super) struct CatalogueColumns {
            $($column: usize,)*
        }

        impl CatalogueColumns {
            /// Panics on a column the query does not return, as `Row::get` by name does.
            pub(super) fn of(row: &tokio_postgres::Row) -> CatalogueColumns {
                let at = |name: &str| {
                    row.columns()
                        .iter()
                        .position(|c| c.name() == name)
                        .expect("the catalogue query returns every column it is read by")
                };
                CatalogueColumns {
                    $($column: at(stringify!($column)),)*
                }
            }
        }
    };
}

catalogue_columns!(
    oid,
    nspname,
    relname,
    data_type,
    seqstart,
    seqmin,
    seqmax,
    seqincrement,
    seqcycle,
    seqcache,
    can_read,
    can_update,
    schema_usable,
    owner_schema,
    owner_table,
    owner_column,
    owner_identity,
    owner_column_type,
    owner_indexed,
    owner_readable,
    unlogged,
    in_recovery,
    data_last_value,
    data_is_called,
);

/// One row of the catalogue query, as what we keep of it.
pub(super) fn sequence_of(r: &tokio_postgres::Row, at: &CatalogueColumns) -> Sequence {
    let owner_table: Option<String> = r.get(at.owner_table);
    let unlogged: bool = r.get(at.unlogged);
    // A standby has only the init fork of an unlogged sequence: no value at all.
    let unavailable = (unlogged && r.get::<_, bool>(at.in_recovery)).then(|| {
        "it is unlogged, and this server is a standby: an unlogged sequence's value \
         exists only on the primary (read it there)"
            .to_string()
    });
    let data: (Option<i64>, Option<bool>) = (r.get(at.data_last_value), r.get(at.data_is_called));
    Sequence {
        oid: r.get(at.oid),
        schema: r.get::<_, &str>(at.nspname).into(),
        name: r.get::<_, &str>(at.relname).into(),
        data_type: type_name(r.get(at.data_type)),
        start: r.get(at.seqstart),
        min: r.get(at.seqmin),
        max: r.get(at.seqmax),
        increment: r.get(at.seqincrement),
        cycle: r.get(at.seqcycle),
        cache: r.get(at.seqcache),
        last_value: data.0,
        is_called: data.1.unwrap_or(false),
        can_read: r.get(at.can_read),
        can_update: r.get(at.can_update),
        schema_usable: r.get(at.schema_usable),
        unlogged,
        extras: Extras {
            unavailable: unavailable.map(Into::into),
            owned_by: owner_table.map(|table| OwnedBy {
                schema: r.get(at.owner_schema),
                table,
                column: r.get(at.owner_column),
                identity: r.get(at.owner_identity),
                indexed: r.get(at.owner_indexed),
                readable: r.get(at.owner_readable),
                column_type: r
                    .get::<_, Option<String>>(at.owner_column_type)
                    .unwrap_or_default(),
            }),
            ..Extras::default()
        }
        .boxed(),
    }
}

/// The catalogue query, with every sequence's state where the server can read it in the same
/// query (PostgreSQL 18's `pg_get_sequence_data`: SELECT privilege, NULL where there is no
/// value), or without it (older servers read values afterwards).
pub(super) fn catalogue_sql(with_data: bool) -> String {
    let (columns, join) = if with_data {
        (
            ",\n       sd.last_value AS data_last_value, sd.is_called AS data_is_called",
            "LEFT JOIN LATERAL pg_catalog.pg_get_sequence_data(c.oid::regclass) sd ON true",
        )
    } else {
        (
            ",\n       NULL::int8 AS data_last_value, NULL::bool AS data_is_called",
            "",
        )
    };
    CATALOGUE_SQL
        .replace("/*DATA COLUMNS*/", columns)
        .replace("/*DATA JOIN*/", join)
}
