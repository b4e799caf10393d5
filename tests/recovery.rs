//! A killed seqsync (SIGKILL, no chance to roll back) is settled by the next start to "applied
//! in full" or "nothing applied", never partly; and `seqsync undo` puts a run's values back.

mod common;
use common::{rows, Pair};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const SEQUENCES: usize = 2_000;

/// Next value of every `k_*` sequence, read in chunks so no transaction holds many locks.
async fn positions(client: &Client) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for lo in (0..SEQUENCES as i32).step_by(500) {
        for r in client
            .query("SELECT * FROM next_values($1, 500)", &[&lo])
            .await
            .unwrap()
        {
            out.insert(r.get(0), r.get(1));
        }
    }
    out
}

const NEXT_VALUES_FN: &str = r#"
CREATE FUNCTION next_values(lo int, n int) RETURNS TABLE(seq text, next bigint)
LANGUAGE plpgsql AS $$
DECLARE r record; lv bigint; called bool;
BEGIN
  FOR r IN SELECT c.relname, s.seqincrement FROM pg_class c
           JOIN pg_sequence s ON s.seqrelid = c.oid
           WHERE c.relname LIKE 'k\_%' ORDER BY c.relname OFFSET lo LIMIT n LOOP
    EXECUTE format('SELECT last_value, is_called FROM %I', r.relname) INTO lv, called;
    seq := r.relname;
    next := CASE WHEN called THEN lv + r.seqincrement ELSE lv END;
    RETURN NEXT;
  END LOOP;
END $$;
"#;

async fn kill_scene(name: &str) -> Pair {
    let pair = Pair::new(name).await;
    let create = format!(
        "DO $$ BEGIN FOR i IN 0..{} LOOP EXECUTE format('CREATE SEQUENCE k_%s', lpad(i::text, 4, '0')); END LOOP; END $$; {NEXT_VALUES_FN}",
        SEQUENCES - 1
    );
    pair.both(&create).await;
    pair.source()
        .await
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 0..{} LOOP PERFORM setval(format('k_%s', lpad(i::text, 4, '0')), 10 + i); END LOOP; END $$;",
            SEQUENCES - 1
        ))
        .await
        .unwrap();
    // Half the destination's sequences were used, half never (the apply reads those another way).
    pair.destination()
        .await
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 0..{} BY 2 LOOP PERFORM setval(format('k_%s', lpad(i::text, 4, '0')), 5); END LOOP; END $$;",
            SEQUENCES - 1
        ))
        .await
        .unwrap();
    pair
}

/// A deterministic spread of kill points, so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn fraction(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Returns true once the run has journaled the start of its apply (in what was written to the
/// journal after `before` bytes); false if it exited first or `limit` passed.
fn wait_for_apply(
    journal: &std::path::Path,
    before: u64,
    child: &mut std::process::Child,
    limit: Duration,
) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut file) = std::fs::File::open(journal) {
            // A journal rolled over since is read from its start.
            let from = if file.metadata().unwrap().len() >= before {
                before
            } else {
                0
            };
            let mut written = String::new();
            file.seek(SeekFrom::Start(from)).unwrap();
            let _ = file.read_to_string(&mut written);
            if written.contains("\"event\":\"apply-started\"") {
                return true;
            }
        }
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    killed_before_apply: usize,
    settled_nothing_applied: usize,
    settled_part_way_restored: usize,
    settled_applied_in_full: usize,
    half_applied: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_always_ends_applied_in_full_or_not_at_all() {
    let pair = kill_scene("kill_loop").await;
    let destination = pair.destination().await;
    let source_values: BTreeMap<String, i64> = (0..SEQUENCES)
        .map(|i| (format!("k_{i:04}"), 10 + i as i64))
        .collect();
    let seed = std::env::var("SEQSYNC_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut lcg = Lcg(seed);
    let mut tally = Tally::default();
    // When, after its start, the first run began applying and when it ended.
    let mut apply_window = (Duration::ZERO, Duration::ZERO);
    for iteration in 0..20 {
        let before = positions(&destination).await;
        let offset = (100_000 * (iteration + 1)).to_string();
        let mut cmd = pair.command(&pair.ad_hoc("sync", &offset));
        cmd.args(["--yes", "--format", "json"])
            .env("SEQSYNC_APPLY_BATCH", "50")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let journal_before = std::fs::metadata(pair.journal()).map_or(0, |m| m.len());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        if iteration == 0 {
            let applying = wait_for_apply(
                &pair.journal(),
                journal_before,
                &mut child,
                Duration::from_secs(60),
            );
            let apply_started = started.elapsed();
            assert!(child.wait().unwrap().success());
            assert!(applying, "the first run applied");
            apply_window = (apply_started, started.elapsed());
        } else {
            // Kill points spread over the apply and a little either side of it. Each point is
            // taken from this run's own start of the apply: later runs plan faster than the
            // first (warm caches), and a delay from the process start alone let most kills
            // land after the run had finished.
            let (from, to) = apply_window;
            let at = lcg.fraction();
            if at < 0.15 {
                // Before the apply: while the run starts and plans.
                std::thread::sleep(from.mul_f64(at / 0.15 * 0.9));
            } else {
                wait_for_apply(&pair.journal(), journal_before, &mut child, from * 4);
                std::thread::sleep((to - from).mul_f64((at - 0.15) / 0.85 * 1.1));
            }
            let _ = child.kill();
            child.wait().unwrap();
        }
        let journal = std::fs::read_to_string(pair.journal()).unwrap_or_default();
        let started_apply = journal.lines().last().is_some_and(|l| {
            l.contains("\"event\":\"apply-started\"") || l.contains("\"event\":\"batch-locked\"")
        });
        // The next start: `plan` settles the interrupted run before planning.
        let out = pair.run(&pair.ad_hoc("plan", &offset));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.code() == Some(0),
            "iteration {iteration}: {said}"
        );
        let after = positions(&destination).await;
        let target = |name: &str| source_values[name] + 100_000 * (iteration as i64 + 1);
        let all_before = after.iter().all(|(n, v)| before[n] == *v);
        let all_target = after.iter().all(|(n, v)| *v == target(n));
        if !all_before && !all_target {
            tally.half_applied += 1;
        }
        if said.contains("applied in full") {
            assert!(all_target, "iteration {iteration}: {said}");
            tally.settled_applied_in_full += 1;
        } else if said.contains("killed part-way") {
            assert!(all_before, "iteration {iteration}: {said}");
            tally.settled_part_way_restored += 1;
        } else if said.contains("killed before any change took hold")
            || said.contains("killed before any target took hold")
        {
            assert!(all_before, "iteration {iteration}: {said}");
            tally.settled_nothing_applied += 1;
        } else {
            assert!(
                !started_apply,
                "iteration {iteration}: an interrupted run was not reported: {said}"
            );
            assert!(all_before || all_target, "iteration {iteration}");
            if all_before {
                tally.killed_before_apply += 1;
            } else {
                tally.completed += 1;
            }
        }
        assert!(
            all_before || all_target,
            "iteration {iteration}: half-applied after settling: {said}"
        );
    }
    eprintln!("seed {seed}; apply window {apply_window:?}; {tally:?}");
    assert_eq!(tally.half_applied, 0);
    assert!(
        tally.settled_part_way_restored
            + tally.settled_applied_in_full
            + tally.settled_nothing_applied
            >= 1,
        "no kill landed inside an apply, so recovery was not exercised: {tally:?}"
    );
}

/// What each sequence's next nextval() returns (the state an undo restores: a never-called
/// sequence may come back as "called" with the value before, which hands out the same ids).
fn next_values(states: &[(String, i64, bool)]) -> Vec<(String, i64)> {
    states
        .iter()
        .map(|(name, last, called)| {
            let increment = if name == "public.down" { -1 } else { 1 };
            (name.clone(), if *called { last + increment } else { *last })
        })
        .collect()
}

fn last_run_id(pair: &Pair, event: &str) -> String {
    let text = std::fs::read_to_string(pair.journal()).unwrap();
    let entry: serde_json::Value = text
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} entry in {text}"));
    entry["run_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_puts_back_every_next_value_once_and_refuses_when_a_sequence_issued_ids_since() {
    let pair = Pair::new("undo").await;
    pair.both(
        r#"CREATE SEQUENCE plain; CREATE SEQUENCE never_used START 7;
           CREATE SEQUENCE down INCREMENT -1; CREATE SEQUENCE "it's ""odd""";"#,
    )
    .await;
    pair.source()
        .await
        .batch_execute(r#"SELECT setval('plain', 50); SELECT setval('never_used', 60); SELECT setval('down', -70); SELECT setval('"it''s ""odd"""', 80);"#)
        .await
        .unwrap();
    pair.destination()
        .await
        .batch_execute("SELECT setval('plain', 3); SELECT setval('down', -2);")
        .await
        .unwrap();
    let original = pair.destination_states().await;

    let mut sync = pair.ad_hoc("sync", "1000");
    sync.push("--yes");
    let (code, json, stderr) = pair.run_json(&sync);
    assert_eq!(code, 0, "{stderr}");
    let run_id = json["run_id"].as_str().expect("run_id in JSON").to_string();
    let synced = pair.destination_states().await;
    assert_ne!(synced, original);

    let undo_args = [
        "undo",
        run_id.as_str(),
        "--destination",
        &pair.destination_url,
        "--yes",
    ];
    let (code, json, stderr) = pair.run_json(&undo_args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["outcome"], "applied", "{json:#}");
    assert_eq!(rows(&json).len(), 4);
    assert_eq!(
        next_values(&pair.destination_states().await),
        next_values(&original),
        "every sequence hands out the same next id as before the run"
    );
    assert_eq!(
        last_run_id(&pair, "applied"),
        json["run_id"].as_str().unwrap()
    );

    let out = pair.run(&undo_args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("run {run_id} was already undone")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Sync again; an application then takes one id from `plain`: undo must refuse as a whole.
    let (code, json, _) = pair.run_json(&sync);
    assert_eq!(code, 0);
    let second = json["run_id"].as_str().unwrap().to_string();
    let taken: i64 = pair
        .destination()
        .await
        .query_one("SELECT nextval('plain')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(taken, 1_050);
    let used = pair.destination_states().await;
    let out = pair.run(&[
        "undo",
        &second,
        "--destination",
        &pair.destination_url,
        "--yes",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused, nothing changed; 1 sequence(s) cannot go back: public.plain: has issued values since the run (next value 1051, the run set 1050)"),
        "{stderr}"
    );
    assert_eq!(
        pair.destination_states().await,
        used,
        "a refused undo changes nothing"
    );

    // Not in the journal; and a destination that is not the run's.
    let out = pair.run(&[
        "undo",
        "20990101T000000000Z-1",
        "--destination",
        &pair.destination_url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no run 20990101T000000000Z-1 in the journal"));
    let elsewhere = pair.destination_url.replace("/t_undo", "/postgres");
    let out = pair.run(&["undo", &second, "--destination", &elsewhere, "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("run {second} was applied to")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run killed after it journaled a batch's exact states but before it set them, where one
/// sequence was never called and was read exactly (PostgreSQL 18 reads it without nextval):
/// an application's nextval() since then must stand. Putting the sequence back to "never
/// called" would hand the same value out twice.
#[tokio::test(flavor = "multi_thread")]
async fn settling_never_undoes_an_applications_nextval_on_a_sequence_read_exactly() {
    let pair = Pair::new("settle_app_nextval").await;
    pair.both("CREATE SEQUENCE a; CREATE SEQUENCE b;").await;
    let run_id = common::journal_killed_run(&pair, "ad-hoc", &["a", "b"], "a");
    let destination = pair.destination().await;
    let issued: i64 = destination
        .query_one("SELECT nextval('a')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(issued, 1);

    let out = pair.run(&["recover", "--destination", &pair.destination_url]);
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&run_id), "{said}");
    assert_eq!(
        pair.destination_states().await,
        vec![("public.a".into(), 1, true), ("public.b".into(), 1, false)],
        "{said}"
    );
    let next: i64 = destination
        .query_one("SELECT nextval('a')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        next, 2,
        "the value the application was given is never issued again"
    );
}
