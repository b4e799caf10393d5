//! A plain log file (never the screen): one timestamped line per event. Callers pass only
//! masked connection strings; `log::line` is the single way to write it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

/// `$XDG_STATE_HOME/seqsync/seqsync.log`, else `~/.local/state/seqsync/seqsync.log`.
pub fn default_path() -> PathBuf {
    crate::engine::journal::Journal::default_path().with_file_name("seqsync.log")
}

/// Opens the log for the rest of the process. A log that cannot be opened is reported once on
/// stderr and then skipped: logging never stops the work.
pub fn init(path: PathBuf) {
    FILE.get_or_init(|| {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("seqsync: warning: no log file ({}: {e})", path.display());
                None
            }
        }
    });
}

pub fn line(level: &str, message: &str) {
    if let Some(Some(file)) = FILE.get() {
        if let Ok(mut f) = file.lock() {
            let at = humantime::format_rfc3339_millis(SystemTime::now());
            // One line per event, whatever the message holds.
            let _ = writeln!(
                f,
                "{at} {level} [{}] {}",
                std::process::id(),
                crate::engine::text::shown(message)
            );
        }
    }
}
