//! Oracle as a source, on a machine without an Oracle client: the name mapping onto real
//! PostgreSQL destinations (Oracle rows built by hand, mapped, planned and applied), and the
//! clear refusal when the client library is missing.

mod common;
use common::Pair;
use seqsync::engine::model::NameCase;
use seqsync::engine::model::{Matched, PlanRow, RowStatus, Sequence};
use seqsync::engine::oracle::{map_all, map_names, to_sequence, OracleRow};
use seqsync::engine::plan::{plan, PlanOptions};
use seqsync::engine::postgres::{apply, ApplyHooks, PgEndpoint, PgSession};
use seqsync::engine::saga::ApplyOptions;
use seqsync::engine::Timeouts;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

fn oracle_row(owner: &str, name: &str, last: &str) -> OracleRow {
    OracleRow {
        owner: owner.into(),
        name: name.into(),
        min_value: "1".into(),
        max_value: "9999999999999999999999999999".into(),
        increment_by: "1".into(),
        cycle_flag: "N".into(),
        cache_size: "20".into(),
        last_number: last.into(),
        table_name: None,
        column_name: None,
        scale_flag: None,
        extend_flag: None,
        session_flag: None,
    }
}

/// The plan of `source` (Oracle rows, mapped) onto the pair's real destination, with the
/// session it was read on.
async fn plan_onto(
    pair: &Pair,
    source: &[Sequence],
    offset: i64,
) -> (PgEndpoint, PgSession, Vec<PlanRow>) {
    let endpoint = PgEndpoint::new(&pair.destination_url, None).unwrap();
    let session = endpoint.connect(&Timeouts::default()).await.unwrap();
    let destination = session.read_sequences().await.unwrap();
    let options = PlanOptions {
        offset: seqsync::engine::offset::Offset::new(offset).unwrap(),
        allow_lower: false,
        scan_unindexed: false,
    };
    let rows = plan(source, &destination, options);
    (endpoint, session, rows)
}

/// Applies the planned rows to the destination the session is on, as a sync would.
async fn apply_all(endpoint: &PgEndpoint, session: PgSession, rows: &mut [PlanRow]) {
    apply(
        endpoint,
        &Timeouts::default(),
        Some(session),
        rows,
        &ApplyOptions::default(),
        &ApplyHooks {
            progress: &|_| {},
            record: &|_| Ok(()),
            cancel: &AtomicBool::new(false),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn oracle_names_map_onto_real_postgresql_destinations() {
    let pair = Pair::new("oracle_names").await;
    pair.destination()
        .await
        .batch_execute(
            r#"CREATE SEQUENCE orders_seq; CREATE SEQUENCE "Mixed_Seq";
               CREATE SCHEMA sales; CREATE SEQUENCE sales.invoice_seq;
               CREATE SCHEMA "EXACT"; CREATE SEQUENCE "EXACT"."KEEP_SEQ";"#,
        )
        .await
        .unwrap();
    let schema_map = HashMap::from([("HR".to_string(), "public".to_string())]);
    let folded: Vec<_> = [
        oracle_row("HR", "ORDERS_SEQ", "500"),
        oracle_row("HR", "Mixed_Seq", "600"),
        oracle_row("SALES", "INVOICE_SEQ", "700"),
    ]
    .iter()
    .map(|r| map_names(to_sequence(r).unwrap(), NameCase::Fold, &schema_map))
    .collect();
    let exact = map_names(
        to_sequence(&oracle_row("EXACT", "KEEP_SEQ", "800")).unwrap(),
        NameCase::Exact,
        &HashMap::new(),
    );
    let source: Vec<_> = folded.into_iter().chain([exact]).collect();
    let names: Vec<String> = source.iter().map(|s| s.qualified_name()).collect();
    assert_eq!(
        names,
        vec![
            "public.orders_seq",
            "public.\"Mixed_Seq\"",
            "sales.invoice_seq",
            "\"EXACT\".\"KEEP_SEQ\""
        ]
    );

    let (endpoint, session, mut rows) = plan_onto(&pair, &source, 1_000).await;
    assert!(
        rows.iter().all(|r| r.status == RowStatus::Update),
        "every Oracle name found its destination: {rows:#?}"
    );
    let shown: Vec<String> = rows.iter().map(|r| r.names()).collect();
    assert_eq!(
        shown,
        vec![
            "\"EXACT\".\"KEEP_SEQ\"",
            "public.\"Mixed_Seq\" ← HR.Mixed_Seq",
            "public.orders_seq ← HR.ORDERS_SEQ",
            "sales.invoice_seq ← SALES.INVOICE_SEQ",
        ],
        "the preview shows the Oracle name beside the destination's when they differ"
    );
    apply_all(&endpoint, session, &mut rows).await;
    let dst = pair.destination().await;
    for (sequence, expected) in [
        ("orders_seq", 1_500i64),
        ("\"Mixed_Seq\"", 1_600),
        ("sales.invoice_seq", 1_700),
        ("\"EXACT\".\"KEEP_SEQ\"", 1_800),
    ] {
        let next: i64 = dst
            .query_one(
                &format!("SELECT nextval('{}')", sequence.replace('\'', "''")),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(next, expected, "{sequence}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oracle_plan_without_the_client_library_is_one_clear_line_and_changes_nothing() {
    let pair = Pair::new("oracle_client").await;
    pair.both("CREATE SEQUENCE orders_seq;").await;
    let before = pair.destination_states().await;
    pair.write_config(&format!(
        r#"
[[instances]]
id = "hr"
kind = "migration"
status = "paused"
phase = "incremental"
source      = {{ engine = "oracle", url = "//127.0.0.1:1/ORCLPDB1", user = "hr", password_env = "ORA_PW", owners = ["HR"] }}
destination = {{ engine = "polardb-oracle", url = "{}" }}
"#,
        pair.destination_url
    ));
    let oracle_password = "Ora-Secret-123";
    for args in [
        &["plan", "--instance", "hr", "--offset", "10"][..],
        &["sync", "--instance", "hr", "--offset", "10", "--yes"][..],
    ] {
        let mut cmd = pair.command(args);
        cmd.env("ORA_PW", oracle_password);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        for needle in [
            "libclntsh.so",
            "Instant Client",
            "LD_LIBRARY_PATH",
            "oracle://hr@//127.0.0.1:1/ORCLPDB1",
        ] {
            assert!(stderr.contains(needle), "{needle} in: {stderr}");
        }
        assert!(!stderr.contains(oracle_password));
    }
    assert_eq!(pair.destination_states().await, before, "nothing changed");
    // The rest of seqsync keeps working.
    let (code, json, stderr) = pair.instances();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json[0]["synchronize_sequence"], true, "{json:#}");
}

/// Oracle 12c+ identity columns are fed by `ISEQ$$_<n>` system sequences; the destination's
/// identity sequence has another name. They meet through the column, and the Oracle sequences
/// without a usable value are refused or taken as wrapped, each saying why.
#[tokio::test(flavor = "multi_thread")]
async fn oracle_identity_sequences_meet_the_destination_identity_through_the_column() {
    let pair = Pair::new("oracle_identity").await;
    pair.destination()
        .await
        .batch_execute(
            "CREATE SCHEMA hr;
             CREATE TABLE hr.employees (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);
             CREATE SEQUENCE hr.scaled_seq; CREATE SEQUENCE hr.per_session_seq;
             CREATE SEQUENCE hr.ring_seq MAXVALUE 1000 CYCLE;",
        )
        .await
        .unwrap();
    let mut identity = oracle_row("HR", "ISEQ$$_74321", "41");
    identity.table_name = Some("EMPLOYEES".into());
    identity.column_name = Some("ID".into());
    let mut scaled = oracle_row("HR", "SCALED_SEQ", "1001");
    scaled.scale_flag = Some("Y".into());
    let mut per_session = oracle_row("HR", "PER_SESSION_SEQ", "9");
    per_session.session_flag = Some("Y".into());
    let mut ring = oracle_row("HR", "RING_SEQ", "1001");
    ring.max_value = "1000".into();
    ring.cycle_flag = "Y".into();
    let source = map_all(
        [identity, scaled, per_session, ring]
            .iter()
            .map(|r| to_sequence(r).unwrap())
            .collect(),
        NameCase::Fold,
        &HashMap::new(),
    )
    .unwrap();
    let (endpoint, session, mut rows) = plan_onto(&pair, &source, 100).await;
    let by_name = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    let employees = by_name("employees_id_seq");
    assert_eq!(
        (employees.status, employees.target, employees.names()),
        (
            RowStatus::Update,
            Some(141),
            "hr.employees_id_seq ← HR.ISEQ$$_74321".to_string()
        )
    );
    assert_eq!(
        employees.matched,
        Matched::Column("hr.employees.id".into()),
        "matched through the identity column, whatever the sequences are called"
    );
    assert!(
        !rows.iter().any(|r| r.name.starts_with("iseq")),
        "the ISEQ$$ sequence is not also reported as missing: {rows:#?}"
    );
    let scaled = by_name("scaled_seq");
    assert_eq!(scaled.status, RowStatus::Unavailable);
    assert!(
        scaled.message.contains("scalable sequence (SCALE)"),
        "{}",
        scaled.message
    );
    let per_session = by_name("per_session_seq");
    assert_eq!(per_session.status, RowStatus::Unavailable);
    assert!(per_session.message.contains("session sequence (SESSION)"));
    let ring = by_name("ring_seq");
    assert_eq!(
        (ring.status, ring.source_value, ring.target),
        (RowStatus::Update, Some(1), Some(101))
    );
    assert!(ring.message.contains("has wrapped"), "{}", ring.message);

    apply_all(&endpoint, session, &mut rows).await;
    let dst = pair.destination().await;
    let id: i64 = dst
        .query_one(
            "INSERT INTO hr.employees (name) VALUES ('first after cutover') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 141, "the identity column hands out the target");
    let untouched: i64 = dst
        .query_one("SELECT last_value FROM hr.scaled_seq", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(untouched, 1, "a refused row changes nothing");
}
