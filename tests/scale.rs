//! 50,000 sequences in one run against a server with default lock settings: more than one
//! transaction can lock, so this proves the batching (no "out of shared memory").

mod common;
use common::Pair;

const COUNT: i64 = 50_000;
const CHUNK: i64 = 5_000;

#[tokio::test(flavor = "multi_thread")]
async fn fifty_thousand_sequences_sync_in_one_run() {
    let pair = Pair::new("scale").await;
    let (src, dst) = (pair.source().await, pair.destination().await);
    let max_locks: String = dst
        .query_one("SHOW max_locks_per_transaction", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        max_locks, "64",
        "the test cluster runs the default lock settings"
    );
    for start in (1..=COUNT).step_by(CHUNK as usize) {
        let create = format!(
            "DO $$ BEGIN FOR i IN {start}..{end} LOOP EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$",
            end = start + CHUNK - 1
        );
        let (a, b) = tokio::join!(src.batch_execute(&create), dst.batch_execute(&create));
        a.unwrap();
        b.unwrap();
        src.batch_execute(&format!(
            "SELECT count(setval(format('s%s', i)::regclass, i * 3)) FROM generate_series({start}, {}) i",
            start + CHUNK - 1
        ))
        .await
        .unwrap();
    }

    let mut args = pair.ad_hoc("sync", "7");
    args.push("--yes");
    let (code, json, stderr) = pair.run_json(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["summary"]["updated"], COUNT, "{}", json["summary"]);

    // A fresh plan finds every destination already at its target...
    let (code, again, stderr) = pair.run_json(&pair.ad_hoc("plan", "7"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["summary"]["unchanged"], COUNT, "{}", again["summary"]);
    // ...and nextval agrees, first, middle and last.
    for i in [1, COUNT / 2, COUNT] {
        let next: i64 = dst
            .query_one(&format!("SELECT nextval('s{i}')"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(next, i * 3 + 7);
    }
}
