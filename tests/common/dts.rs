//! A local DTS endpoint for the tests: tests/dts/fake_dts.py, which judges every request with
//! the official Alibaba Cloud Python SDK, and can also play a misbehaving or hostile endpoint.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY_ID: &str = "LTAI5tFakeKeyForTests";
pub const SECRET: &str = "fake-secret-Zx9/+=";

/// The virtual environment scripts/test builds with the official SDK in it.
pub fn python() -> String {
    std::env::var("SEQSYNC_TEST_DTS_PYTHON")
        .expect("SEQSYNC_TEST_DTS_PYTHON: run scripts/test, which installs the official SDK")
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dts/fake_dts.py")
}

pub struct FakeDts {
    child: Child,
    pub port: u16,
    scenario: PathBuf,
    log: PathBuf,
}

impl FakeDts {
    pub fn start(dir: &Path, scenario: Value) -> FakeDts {
        let scenario_path = dir.join("dts-scenario.json");
        let log = dir.join("dts-requests.jsonl");
        let _ = std::fs::remove_file(&log);
        let port_file = dir.join("dts-port");
        let _ = std::fs::remove_file(&port_file);
        let mut fake = FakeDts {
            child: Command::new(python())
                .arg(script())
                .args(["serve"])
                .arg(&scenario_path)
                .arg(&port_file)
                .stdout(Stdio::null())
                .spawn()
                .expect("python"),
            port: 0,
            scenario: scenario_path,
            log,
        };
        fake.set(scenario);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(
                Instant::now() < deadline,
                "the fake DTS endpoint never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        fake.port = std::fs::read_to_string(&port_file)
            .unwrap()
            .parse()
            .unwrap();
        fake
    }

    /// Replaces the scenario; the endpoint reads it on every request.
    pub fn set(&self, mut scenario: Value) {
        scenario["log"] = json!(self.log);
        if scenario.get("keys").is_none() {
            scenario["keys"] = json!({ KEY_ID: SECRET });
        }
        std::fs::write(&self.scenario, scenario.to_string()).unwrap();
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn config(&self, extra: &str) -> String {
        format!(
            "[defaults]\nconnect_timeout = \"2s\"\n\n[dts]\nregions = [\"cn-hangzhou\", \"ap-southeast-1\"]\n\
             endpoint = \"http://127.0.0.1:{port}\"\n\
             sts_endpoint = \"http://127.0.0.1:{port}\"\nmetadata_endpoint = \"http://127.0.0.1:{port}\"\n{extra}",
            port = self.port
        )
    }
}

impl Drop for FakeDts {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const KEYS: [(&str, &str); 2] = [
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
];
