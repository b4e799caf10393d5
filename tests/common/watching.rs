//! `seqsync watch … --format json` as a child process, its rounds read as they come.

use super::Pair;
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// `seqsync watch … --format json` running, its JSON lines arriving on a channel.
pub struct Watching {
    pub child: Child,
    lines: Receiver<serde_json::Value>,
}

impl Watching {
    pub fn start(pair: &Pair, args: &[&str], env: &[(&str, &str)]) -> Watching {
        let mut command = pair.command(&["watch"]);
        command
            .args(args)
            .args(["--yes", "--format", "json"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.unwrap();
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        Watching { child, lines }
    }

    /// The next round's report (troubles are skipped but must not be all there is).
    pub fn next_round(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == "round" => return v,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no round within 30 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("the watch ended"),
            }
        }
    }

    pub fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the end: exit code and stderr.
    pub fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
                    .unwrap();
                return (status.code().unwrap_or(-1), stderr);
            }
            assert!(
                Instant::now() < deadline,
                "the watch did not end within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
