//! `seqsync journal`: where the journal is, its size and its newest runs, read by the operator
//! without reading JSON by hand.

mod common;
use common::Pair;

#[tokio::test(flavor = "multi_thread")]
async fn the_journal_command_shows_the_file_its_runs_and_an_unfinished_one() {
    let pair = Pair::new("journal_cmd").await;
    let out = pair.run(&["journal"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("none yet"), "{text}");

    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b;").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('a', 50), setval('b', 70)")
        .await
        .unwrap();
    let mut runs = vec![];
    for offset in ["10", "20", "30"] {
        let mut args = pair.ad_hoc("sync", offset);
        args.push("--yes");
        let (code, json, stderr) = pair.run_json(&args);
        assert_eq!(code, 0, "{stderr}");
        runs.push(json["run_id"].as_str().unwrap().to_string());
    }
    let (code, json, stderr) = pair.run_json(&["journal", "--runs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["runs"], 3, "{json}");
    assert!(json["bytes"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["path"], pair.journal().display().to_string());
    let recent: Vec<&str> = json["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        recent,
        vec![runs[2].as_str(), runs[1].as_str()],
        "newest first, two of them"
    );

    // A run killed after its intent: listed as unfinished until something settles it.
    let started = std::fs::read_to_string(pair.journal())
        .unwrap()
        .lines()
        .find(|l| l.contains("\"apply-started\""))
        .unwrap()
        .replace(&runs[0], "20261128T000000000Z-1");
    let mut text = std::fs::read_to_string(pair.journal()).unwrap();
    text.push_str(&started);
    text.push('\n');
    std::fs::write(pair.journal(), text).unwrap();
    let out = pair.run(&["journal"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("1 unfinished") && table.contains("20261128T000000000Z-1"),
        "{table}"
    );
    assert!(
        table.contains(&runs[2]) && table.contains("applied"),
        "{table}"
    );
}
