//! Driving the real binary (or the demo) in a private tmux server, as a person would.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A new tmux server of its own, running `command` in a `width`×`height` terminal.
    pub fn start(name: &str, command: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("seqsync-{name}-{}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        let status = Command::new("tmux")
            .args([
                "-L",
                &tmux.socket,
                "new-session",
                "-d",
                "-x",
                &w,
                "-y",
                &h,
                command,
            ])
            .status()
            .expect("tmux is installed by scripts/test");
        assert!(status.success());
        tmux
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    pub fn resize(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        let status = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "resize-window",
                "-t",
                "0",
                "-x",
                &w,
                "-y",
                &h,
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sets the pane's title, as a program's OSC 0/2 sequence would.
    pub fn set_title(&self, title: &str) {
        let args = ["-L", &self.socket, "select-pane", "-t", "0", "-T", title];
        assert!(Command::new("tmux").args(args).status().unwrap().success());
    }

    /// The pane's title: what a program's escape sequence last set it to.
    pub fn title(&self) -> String {
        let args = [
            "-L",
            &self.socket,
            "display",
            "-p",
            "-t",
            "0",
            "#{pane_title}",
        ];
        let out = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The screen and what scrolled off it.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-S",
                "-200",
                "-t",
                "0",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; fails with the screen otherwise, at once when the
    /// program ended without showing it (its last screen kept, not a vanished server's).
    pub fn wait_for(&self, text: &str, seconds: u64) -> String {
        self.wait_for_unless(text, None, seconds)
    }

    /// As `wait_for`, but gives up as soon as `end` (the program's exit line) shows instead.
    pub fn wait_for_unless(&self, text: &str, end: Option<&str>, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut last = String::new();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            if !screen.trim().is_empty() {
                last = screen;
            }
            let ended = end.is_some_and(|end| last.contains(end));
            assert!(
                !ended && Instant::now() < deadline,
                "never showed {text:?}{}:\n{last}",
                if ended { " (the program ended)" } else { "" }
            );
            std::thread::sleep(Duration::from_millis(150));
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

/// SIGKILLs the seqsync TUI started with `--config <config>` (no handler runs, as after a lost
/// SSH session); fails the test when there is none.
pub fn kill_tui(config: &std::path::Path) {
    let pattern = format!("seqsync --config {}", config.display());
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status()
        .unwrap();
    assert!(killed.success(), "the TUI was running and was killed");
    // SIGKILL takes effect when the process leaves the kernel (an fsync under load can take
    // a while): wait until it is gone, so that the next start meets a dead run, not a live one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while Command::new("pgrep")
        .args(["-f", &pattern])
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed TUI never went away"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
