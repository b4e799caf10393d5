//! Random identifiers — quotes, spaces, semicolons, unicode, up to PostgreSQL's 63-byte limit —
//! created in real PostgreSQL (quoted by the server's own `format('%I')`) and synced exactly.

mod common;
use common::{rows, Pair};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

fn random_names(count: usize) -> Vec<String> {
    let strategy = proptest::collection::vec(
        proptest::prop_oneof![
            "[a-z_][a-z0-9_$]{0,62}",
            "[ -~]{1,63}",
            "\\PC{1,20}",
            "[A-Z][a-zA-Z ]{0,30}",
        ],
        count * 2,
    );
    // Deterministic: a failure replays the same names.
    let mut runner = TestRunner::deterministic();
    let mut names: Vec<String> = strategy
        .new_tree(&mut runner)
        .unwrap()
        .current()
        .into_iter()
        .filter(|n| !n.is_empty() && n.len() <= 63 && !n.contains('\0'))
        .collect();
    names.extend([
        "x".repeat(63),
        format!("{}a", "é".repeat(31)),
        "a\"; DROP TABLE t; --".to_string(),
        "it's".to_string(),
        "back\\slash".to_string(),
        " leading and trailing ".to_string(),
        "日本語のシーケンス".to_string(),
        "🦀 seq".to_string(),
        "UPPER".to_string(),
        "upper".to_string(),
    ]);
    names.sort();
    names.dedup();
    names.truncate(count + 10);
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn random_identifiers_are_synced_exactly() {
    let pair = Pair::new("identifiers").await;
    let names = random_names(40);
    let schemas = ["public", "we\"ird schéma"];
    let source = pair.source().await;
    let destination = pair.destination().await;
    for client in [&source, &destination] {
        client
            .batch_execute("CREATE SCHEMA \"we\"\"ird schéma\"")
            .await
            .unwrap();
    }
    let placed: Vec<(&str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (schemas[i % 2], n.as_str()))
        .collect();
    for (i, (schema, name)) in placed.iter().enumerate() {
        for client in [&source, &destination] {
            let create: String = client
                .query_one(
                    "SELECT format('CREATE SEQUENCE %I.%I', $1::text, $2::text)",
                    &[schema, name],
                )
                .await
                .unwrap()
                .get(0);
            client
                .batch_execute(&create)
                .await
                .unwrap_or_else(|e| panic!("{create}: {e}"));
        }
        source
            .execute(
                "SELECT setval(format('%I.%I', $1::text, $2::text)::regclass, $3)",
                &[schema, name, &(100 + i as i64)],
            )
            .await
            .unwrap();
    }
    let mut args = pair.ad_hoc("sync", "1000");
    args.push("--yes");
    let (code, json, stderr) = pair.run_json(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows(&json).len(), placed.len());
    for (i, (schema, name)) in placed.iter().enumerate() {
        let shown = rows(&json)
            .iter()
            .find(|r| r["schema"] == *schema && r["name"] == *name)
            .unwrap_or_else(|| panic!("no row for {schema:?}.{name:?}"));
        assert_eq!(shown["status"], "updated", "{shown:#}");
        let next: i64 = destination
            .query_one(
                "SELECT nextval(format('%I.%I', $1::text, $2::text)::regclass)",
                &[schema, name],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(next, 1_100 + i as i64, "{schema:?}.{name:?}");
    }
    let table = pair.run(&pair.ad_hoc("plan", "1000"));
    assert_eq!(table.status.code(), Some(0));
}
