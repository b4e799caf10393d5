//! The real binary in tmux against the test clusters: open the instance, `s`, type an offset,
//! preview, confirm, read the screen, then check every destination sequence in the database.

mod common;
use common::Pair;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("seqsync-e2e-{}", std::process::id()),
        };
        let status = Command::new("tmux")
            .args([
                "-L",
                &tmux.socket,
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
                command,
            ])
            .status()
            .expect("tmux is installed by scripts/test");
        assert!(status.success());
        tmux
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; fails with the screen otherwise.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_console_flow_by_keys_sets_every_sequence() {
    let pair = Pair::new("e2e").await;
    let sub = pair
        .replicate(
            "CREATE TABLE orders (id serial PRIMARY KEY, note text); \
             CREATE SEQUENCE invoice_no; CREATE SEQUENCE refund_no INCREMENT -1;",
            "orders",
        )
        .await;
    pair.source()
        .await
        .batch_execute(
            "INSERT INTO orders (note) SELECT 'o' FROM generate_series(1, 300); \
             SELECT setval('invoice_no', 4200); SELECT setval('refund_no', -77);",
        )
        .await
        .unwrap();
    let config = pair.write_config(&format!(
        r#"
[defaults]
offset = 1000

[[instances]]
id = "orders-e2e"
name = "orders end to end"
region = "eu-central"
subscription = "{sub}"
source      = {{ engine = "postgresql", url = "{}" }}
destination = {{ engine = "postgresql", url = "{}" }}
"#,
        pair.source_url, pair.destination_url
    ));
    pair.wait_for("orders-e2e", "running", "incremental").await;

    let command = format!(
        "cd '{dir}' && env HOME='{dir}' SEQSYNC_JOURNAL='{journal}' SEQSYNC_LOG='{log}' '{bin}' --config '{config}'; sleep 30",
        dir = pair.dir.display(),
        journal = pair.journal().display(),
        log = pair.log_file().display(),
        bin = env!("CARGO_BIN_EXE_seqsync"),
        config = config.display(),
    );
    let tmux = Tmux::start(&command);
    let list = tmux.wait_for("running");
    assert!(
        list.contains("orders-e2e") && list.contains("incremental"),
        "{list}"
    );
    tmux.keys(&["Enter"]);
    let basic = tmux.wait_for("Synchronize Sequence (s)");
    assert!(basic.contains("****"), "the password is masked: {basic}");
    assert!(!basic.contains(&common::test_password()));
    tmux.keys(&["s"]);
    tmux.wait_for("Sequence Offset");
    tmux.keys(&["C-u", "2", "5", "0", "0", "Enter"]);
    let preview = tmux.wait_for("Apply 3 change(s)?");
    assert!(preview.contains("Plan — offset 2500"), "{preview}");
    tmux.keys(&["y"]);
    let results = tmux.wait_for("Synchronized");
    assert!(results.contains("3 updated"), "{results}");
    assert!(
        results.contains("2800"),
        "orders_id_seq after = 300 + 2500: {results}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("Basic Information");
    tmux.keys(&["q"]);

    let dst = pair.destination().await;
    let id: i32 = dst
        .query_one(
            "INSERT INTO orders (note) VALUES ('after cutover') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 2_800, "no duplicate key: the next id is the target");
    let invoice: i64 = dst
        .query_one("SELECT nextval('invoice_no')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(invoice, 6_700);
    let refund: i64 = dst
        .query_one("SELECT nextval('refund_no')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(refund, -2_577);
    let journal = std::fs::read_to_string(pair.journal()).unwrap();
    assert!(journal.contains("\"event\":\"applied\""));
    pair.stop_replication().await;
}
