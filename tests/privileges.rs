//! The least privilege that works, and what seqsync says when a grant is missing.
//! Source role: CONNECT on the database, USAGE on the schemas, SELECT on the sequences.
//! Destination role: CONNECT, USAGE on the schemas, SELECT and UPDATE on the sequences (no
//! ownership); SELECT on serial/identity columns only for the behind-data check.

mod common;
use common::{row, Pair};

fn as_role(url: &str, role: &str) -> String {
    url.replacen("postgres:", &format!("{role}:"), 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smallest_grants_work_and_each_missing_one_is_named() {
    let pair = Pair::new("least").await;
    let db = pair.name.clone();
    let password = common::test_password();
    let (reader, writer) = (format!("seqsync_src_{db}"), format!("seqsync_dst_{db}"));
    pair.both(&format!(
        r#"CREATE SCHEMA app;
           CREATE SEQUENCE app.a; CREATE SEQUENCE app.b; CREATE SEQUENCE public.c;
           CREATE TABLE app.t (id serial PRIMARY KEY);
           REVOKE CONNECT ON DATABASE {db} FROM PUBLIC;
           DROP ROLE IF EXISTS {reader}; DROP ROLE IF EXISTS {writer};
           CREATE ROLE {reader} LOGIN PASSWORD '{password}';
           CREATE ROLE {writer} LOGIN PASSWORD '{password}';"#
    ))
    .await;
    pair.source()
        .await
        .batch_execute(&format!(
            r#"SELECT setval('app.a', 10); SELECT setval('app.b', 20); SELECT setval('c', 30);
               SELECT setval('app.t_id_seq', 40);
               GRANT CONNECT ON DATABASE {db} TO {reader};
               GRANT USAGE ON SCHEMA app TO {reader};
               GRANT SELECT ON ALL SEQUENCES IN SCHEMA app, public TO {reader};"#
        ))
        .await
        .unwrap();
    let destination = pair.destination().await;
    destination
        .batch_execute(&format!(
            r#"GRANT CONNECT ON DATABASE {db} TO {writer};
               GRANT USAGE ON SCHEMA app TO {writer};
               GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA app, public TO {writer};"#
        ))
        .await
        .unwrap();
    let (src, dst) = (
        as_role(&pair.source_url, &reader),
        as_role(&pair.destination_url, &writer),
    );
    let args = |verb: &'static str, dst: &str| -> Vec<String> {
        let mut a: Vec<String> = [
            verb,
            "--source",
            &src,
            "--destination",
            dst,
            "--offset",
            "1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if verb == "sync" {
            a.push("--yes".into());
        }
        a
    };
    let run = |a: &[String]| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        pair.run_json(&a)
    };

    let (code, json, stderr) = run(&args("sync", &dst));
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    for name in ["a", "b", "c", "t_id_seq"] {
        assert_eq!(row(&json, name)["status"], "updated", "{json:#}");
    }
    assert!(
        row(&json, "t_id_seq")["message"]
            .as_str()
            .unwrap()
            .contains("data not checked: this role may not SELECT app.t.id"),
        "{json:#}"
    );
    let next: i64 = destination
        .query_one("SELECT nextval('app.b')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1_020);

    // With SELECT on the column, the behind-data check reads it.
    destination
        .batch_execute(&format!("GRANT SELECT (id) ON app.t TO {writer}"))
        .await
        .unwrap();
    let (_, json, _) = run(&args("plan", &dst));
    assert_eq!(row(&json, "t_id_seq")["message"], "", "{json:#}");

    // No UPDATE on one sequence: that row says which grant, the rest are applied.
    destination
        .batch_execute(&format!(
            "REVOKE UPDATE ON app.b FROM {writer}; SELECT setval('app.a', 1); SELECT setval('app.b', 1);"
        ))
        .await
        .unwrap();
    let (code, json, stderr) = run(&args("sync", &dst));
    assert_eq!(code, 3, "{stderr}");
    let b = row(&json, "b");
    assert_eq!(b["status"], "no-privilege");
    assert_eq!(
        b["message"],
        "cannot change the destination sequence: GRANT UPDATE ON SEQUENCE app.b TO <destination role>"
    );
    assert_eq!(row(&json, "a")["status"], "updated");

    // No USAGE on the schema: every sequence in it names the schema grant.
    destination
        .batch_execute(&format!("REVOKE USAGE ON SCHEMA app FROM {writer}"))
        .await
        .unwrap();
    let (code, json, _) = run(&args("plan", &dst));
    assert_eq!(code, 3);
    assert!(
        row(&json, "a")["message"]
            .as_str()
            .unwrap()
            .contains("GRANT USAGE ON SCHEMA app TO <destination role>"),
        "{json:#}"
    );

    // No CONNECT: one line, exit 1, nothing else tried.
    destination
        .batch_execute(&format!("REVOKE CONNECT ON DATABASE {db} FROM {writer}"))
        .await
        .unwrap();
    let out = pair.run(
        &args("sync", &dst)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("permission denied for database"),
        "{stderr}"
    );
    assert!(!stderr.contains(&password), "{stderr}");
}
