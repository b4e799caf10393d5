//! Sequence names chosen by a hostile role — terminal escapes, an OSC title sequence, C1
//! controls, newlines, tabs, bidirectional overrides, and a 63-byte name of multi-byte
//! characters — created in real PostgreSQL. What seqsync prints for people carries no raw
//! control byte and keeps one row per sequence; what it prints for programs keeps the exact
//! names; the sync sets them all.

mod common;
use common::tmux::Tmux;
use common::{rows, Pair};

async fn create_hostile(pair: &Pair) -> Vec<String> {
    let names = hostile_names();
    for name in &names {
        let sql = "SELECT format('CREATE SEQUENCE %I', $1::text)";
        for client in [pair.source().await, pair.destination().await] {
            let create: String = client.query_one(sql, &[name]).await.unwrap().get(0);
            client.batch_execute(&create).await.unwrap();
        }
        let setval = "SELECT setval(format('%I', $1::text)::regclass, 5)";
        pair.source()
            .await
            .query_one(setval, &[name])
            .await
            .unwrap();
    }
    names
}

/// One name per class of dangerous character, and a long multi-byte one.
fn hostile_names() -> Vec<String> {
    vec![
        "clear\u{1b}[2Jscreen".into(),
        "title\u{1b}]0;owned\u{7}".into(),
        "csi\u{9b}31m".into(),
        "two\nlines".into(),
        "tab\tbed".into(),
        "cr\rreturn".into(),
        "del\u{7f}ete".into(),
        "evil\u{202e}gpj".into(),
        "iso\u{2066}late".into(),
        // 21 three-byte characters: 63 bytes, 42 terminal columns.
        "表".repeat(21),
    ]
}

/// A byte the terminal would act on: C0 other than the newline ending a line, DEL, or a C1
/// or bidirectional control in UTF-8.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && seqsync::engine::text::is_control(c))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_are_shown_escaped_kept_exact_in_json_and_synced() {
    let pair = Pair::new("hostile").await;
    let names = create_hostile(&pair).await;

    let out = pair.run(&pair.ad_hoc("plan", "100"));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(raw_controls(&stdout), Vec::<char>::new(), "{stdout:?}");
    assert_eq!(raw_controls(&stderr), Vec::<char>::new(), "{stderr:?}");
    // A header, one line per sequence, and the summary: no name split a row.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), names.len() + 2, "{stdout}");
    assert!(stdout.contains("\\x1b[2J"), "{stdout}");
    assert!(stdout.contains("\\x1b]0;owned\\x07"), "{stdout}");
    assert!(stdout.contains("\\u{9b}"), "{stdout}");
    assert!(stdout.contains("two\\nlines"), "{stdout}");
    assert!(stdout.contains("\\u{202e}"), "{stdout}");
    // Columns line up in terminal columns: every row's SOURCE value ends where the header's does.
    let header = lines[0];
    let source_end = header.find("SOURCE").unwrap() + "SOURCE".len();
    let header_columns = unicode_width(&header[..source_end]);
    for line in &lines[1..=names.len()] {
        let end = line.find("  5 ").map(|i| i + 3).expect(line);
        assert_eq!(unicode_width(&line[..end]), header_columns, "{line}");
    }

    let (code, json, stderr) = pair.run_json(
        &pair
            .ad_hoc("sync", "100")
            .into_iter()
            .chain(["--yes"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{stderr}");
    let mut synced: Vec<String> = rows(&json)
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "updated", "{r}");
            assert_eq!(r["destination_after"], 105, "{r}");
            r["name"].as_str().unwrap().to_string()
        })
        .collect();
    synced.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(synced, expected, "JSON keeps the exact names");

    // The log and the CSV: the log escaped, the CSV exact and quoted.
    let log = std::fs::read_to_string(pair.log_file()).unwrap();
    assert_eq!(raw_controls(&log), Vec::<char>::new(), "{log:?}");
    let out = pair.run(&[&pair.ad_hoc("plan", "100")[..], &["--format", "csv"]].concat());
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let mut from_csv: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    from_csv.sort();
    assert_eq!(from_csv, expected, "CSV keeps the exact names");
}

fn unicode_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tui_shows_hostile_names_without_obeying_them() {
    let pair = Pair::new("hostile_tui").await;
    let names = create_hostile(&pair).await;
    let config = pair.write_config(&format!(
        "[defaults]\noffset = 100\n[[instances]]\nid = \"hostile\"\nstatus = \"running\"\n\
         phase = \"incremental\"\n\
         source = {{ engine = \"postgresql\", url = \"{}\" }}\n\
         destination = {{ engine = \"postgresql\", url = \"{}\" }}\n",
        pair.source_url, pair.destination_url
    ));
    // After the TUI, the shell sets the title itself: proof that a title change is seen.
    let command = pair.tui_command(
        &config,
        "",
        "printf '\\033]0;set-by-the-shell\\007'; sleep 30",
    );
    let tmux = Tmux::start("hostile", &command, 100, 30);
    tmux.set_title("operator");
    tmux.wait_for("hostile", 30);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Synchronize Sequence (s)", 30);
    tmux.keys(&["s"]);
    tmux.wait_for("Sequence Offset", 10);
    tmux.keys(&["Enter"]);
    let preview = tmux.wait_for("Apply", 30);
    assert_eq!(
        tmux.title(),
        "operator",
        "the database did not retitle the pane"
    );
    assert!(
        preview.contains("\\x1b[2J") && preview.contains("\\x1b]0;owned\\x07"),
        "{preview}"
    );
    assert!(preview.contains("two\\nlines"), "{preview}");
    // The frame is whole: the header, one row per sequence, the prompt and both borders.
    assert!(preview.contains(" seqsync  Instances"), "{preview}");
    assert_eq!(
        preview.matches(" update│").count(),
        names.len(),
        "{preview}"
    );
    assert!(preview.lines().any(|l| l.starts_with('└')), "{preview}");
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized", 30);
    assert!(
        results.contains(&format!("{} updated · 0 unchanged", names.len())),
        "{results}"
    );
    assert_eq!(tmux.title(), "operator");
    tmux.keys(&["q"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tmux.title() != "set-by-the-shell" {
        assert!(
            std::time::Instant::now() < deadline,
            "title changes are seen: {}",
            tmux.title()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
