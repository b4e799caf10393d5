//! The journal's files: the active file every run appends to, and the archives it rolls over
//! to. Writers hold a shared `flock` on the active file while they append (each line is one
//! `write` to a file opened for appending, so writers never interleave); a rotation or a
//! compaction holds it exclusively, so it never loses a line appended while it runs. A writer
//! that finds the lock taken does not wait for it to roll over: a seqsync stopped with
//! SIGSTOP in the middle of a write must not stop every other run. Readers take no lock (a
//! rename is atomic, so a reader sees the old file or the new one, whole).

use super::entry::{JournalEntry, JournalEvent, RunContext};
use super::format::{Changeable, LineOut};
use super::index::{index_file, index_path, read_at};
use crate::engine::model::{Locked, PlanRow};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Where the active file rolls over, unless configured: a start scans at most this much.
pub const DEFAULT_ROTATE_AT: u64 = 16 << 20;
/// Archives kept beside the active file, unless configured.
pub const DEFAULT_KEEP_ARCHIVES: usize = 8;
/// Bases of runs this process is journaling, kept to write later lines as changes only. A
/// run whose base was dropped writes its rows in full again: larger, never wrong.
const BASES_KEPT: usize = 4;

/// (device, inode): which file a run's base went to.
type FileId = (u64, u64);

pub(super) struct Base {
    run_id: String,
    file: FileId,
    rows: Vec<Changeable>,
}

#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    rotate_at: u64,
    keep_archives: usize,
    pub(super) bases: Arc<Mutex<Vec<Base>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("rotate_at", &self.rotate_at)
            .field("keep_archives", &self.keep_archives)
            .finish()
    }
}

/// What a rotation did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Rotated {
    pub archive: Option<String>,
    /// Unfinished runs copied into the new active file.
    pub carried: Vec<String>,
    pub removed: Vec<String>,
    /// Archives past the retention kept because a run in them is unfinished.
    pub kept: Vec<String>,
}

impl Journal {
    pub fn new(path: PathBuf) -> Self {
        Journal {
            path,
            rotate_at: DEFAULT_ROTATE_AT,
            keep_archives: DEFAULT_KEEP_ARCHIVES,
            bases: Arc::default(),
        }
    }

    /// Rolls the active file over at `rotate_at` bytes, keeping `keep_archives` archives.
    pub fn with_rotation(mut self, rotate_at: u64, keep_archives: usize) -> Self {
        self.rotate_at = rotate_at.max(1);
        self.keep_archives = keep_archives;
        self
    }

    /// `$XDG_STATE_HOME/seqsync/journal.jsonl`, else `~/.local/state/seqsync/journal.jsonl`.
    pub fn default_path() -> PathBuf {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("seqsync").join("journal.jsonl")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn rotate_at(&self) -> u64 {
        self.rotate_at
    }

    pub fn keep_archives(&self) -> usize {
        self.keep_archives
    }

    pub(super) fn fail(&self, e: impl std::fmt::Display) -> String {
        format!("cannot write the journal {}: {e}", self.path.display())
    }

    /// Journals one event of a run and waits until it is on disk. The run's first line in a
    /// file holds every row; later ones only what changed (see [`format`]).
    pub fn record(
        &self,
        context: &RunContext,
        event: JournalEvent,
        rows: &[PlanRow],
        message: &str,
        locked: &[Locked],
    ) -> Result<(), String> {
        let mut file = self.open_locked(Hold::Shared, LOCK_WAIT)?;
        let mut id = file_id(&file).map_err(|e| self.fail(e))?;
        let mut bases = self.bases.lock().unwrap_or_else(|p| p.into_inner());
        let mut known = bases
            .iter()
            .position(|b| b.run_id == context.run_id && b.file == id);
        // A run's lines go to one file: roll over only before a run's first line.
        if known.is_none() && file.metadata().map_err(|e| self.fail(e))?.len() >= self.rotate_at {
            drop(file);
            self.rotate_if_free()?;
            file = self.open_locked(Hold::Shared, LOCK_WAIT)?;
            id = file_id(&file).map_err(|e| self.fail(e))?;
            known = bases
                .iter()
                .position(|b| b.run_id == context.run_id && b.file == id);
        }
        let base = known.map(|i| bases[i].rows.as_slice());
        let line = LineOut::new(context, event, message, rows, base, locked);
        write_line(&mut file, &line).map_err(|e| self.fail(e))?;
        if line.is_base() {
            bases.retain(|b| b.run_id != context.run_id);
            if bases.len() >= BASES_KEPT {
                bases.remove(0);
            }
            bases.push(Base {
                run_id: context.run_id.clone(),
                file: id,
                rows: rows.iter().map(Changeable::of).collect(),
            });
        }
        if event.ends_apply() {
            bases.retain(|b| b.run_id != context.run_id);
        }
        Ok(())
    }

    /// Journals an entry built whole (its run's context, event, rows, message and locked
    /// states; its time, user and host are now's).
    pub fn append(&self, entry: &JournalEntry) -> Result<(), String> {
        self.record(
            &RunContext::of(entry),
            entry.event,
            &entry.rows,
            &entry.message,
            &entry.locked,
        )
    }

    /// Rolls over if the active file is still past its limit and other writers let go of it
    /// within a moment; otherwise a later run does.
    fn rotate_if_free(&self) -> Result<(), String> {
        let Ok(file) = self.open_locked(Hold::Exclusive, ROTATION_WAIT) else {
            return Ok(());
        };
        if file.metadata().map_err(|e| self.fail(e))?.len() >= self.rotate_at {
            let rotated = self.rotate_locked(&file)?;
            crate::log::line("INFO", &rotated.describe(&self.path));
        }
        Ok(())
    }

    /// The active file, opened for appending and locked within `wait`; reopened if a rotation
    /// replaced it while we waited for the lock.
    pub(super) fn open_locked(&self, hold: Hold, wait: Duration) -> Result<File, String> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| self.fail(e))?;
        }
        loop {
            let file = open_append(&self.path).map_err(|e| self.fail(e))?;
            if !lock(&file, hold, wait).map_err(|e| self.fail(e))? {
                return Err(self.fail(format!(
                    "another seqsync process has held it for {} (rotating or compacting it, or \
                     stopped while writing); nothing was written. `fuser {}` names it; run \
                     again once it is done",
                    humantime::format_duration(wait),
                    self.path.display()
                )));
            }
            let now = std::fs::metadata(&self.path).map(|m| meta_id(&m));
            if now.ok() == Some(file_id(&file).map_err(|e| self.fail(e))?) {
                return Ok(file);
            }
        }
    }

    /// Rolls over now (`seqsync journal rotate`).
    pub fn rotate(&self) -> Result<Rotated, String> {
        let file = self.open_locked(Hold::Exclusive, LOCK_WAIT)?;
        let rotated = self.rotate_locked(&file)?;
        crate::log::line("INFO", &rotated.describe(&self.path));
        Ok(rotated)
    }

    /// With the active file locked: links it to an archive, replaces it with a file holding
    /// only the unfinished runs' lines, and removes archives past the retention.
    fn rotate_locked(&self, active: &File) -> Result<Rotated, String> {
        let index = index_file(active).map_err(|e| self.fail(e))?;
        let carried: Vec<String> = index.unfinished().cloned().collect();
        let next = self.sibling("rotating");
        {
            let mut out = BufWriter::new(create_private(&next).map_err(|e| self.fail(e))?);
            let mut lines: Vec<(u64, usize)> = carried
                .iter()
                .flat_map(|r| index.runs[r].lines.iter().copied())
                .collect();
            lines.sort_unstable();
            for (at, len) in lines {
                out.write_all(&read_at(active, at, len).map_err(|e| self.fail(e))?)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| self.fail(e))?;
            }
            let file = out.into_inner().map_err(|e| self.fail(e))?;
            file.sync_all().map_err(|e| self.fail(e))?;
        }
        // A rotation killed after the link and before the rename left the active file linked
        // already: link it once.
        let id = file_id(active).map_err(|e| self.fail(e))?;
        let archive = match self
            .archives()?
            .into_iter()
            .find(|a| std::fs::metadata(a).is_ok_and(|m| meta_id(&m) == id))
        {
            Some(existing) => existing,
            None => {
                let archive = self.archive_path();
                std::fs::hard_link(&self.path, &archive).map_err(|e| self.fail(e))?;
                archive
            }
        };
        sync_dir(&self.path);
        std::fs::rename(&next, &self.path).map_err(|e| self.fail(e))?;
        sync_dir(&self.path);
        let mut rotated = Rotated {
            archive: Some(archive.display().to_string()),
            carried,
            ..Rotated::default()
        };
        self.prune(&mut rotated)?;
        Ok(rotated)
    }

    /// Removes archives past the retention, oldest first, unless a run in one is unfinished
    /// and not carried into the active file.
    fn prune(&self, rotated: &mut Rotated) -> Result<(), String> {
        let archives = self.archives()?;
        if archives.len() <= self.keep_archives {
            return Ok(());
        }
        let active = index_path(&self.path)?;
        for old in &archives[self.keep_archives..] {
            let index = index_path(old)?;
            let stranded = index.unfinished().any(|r| !active.runs.contains_key(r));
            if stranded {
                rotated.kept.push(old.display().to_string());
            } else if std::fs::remove_file(old).is_ok() {
                rotated.removed.push(old.display().to_string());
            }
        }
        Ok(())
    }

    pub(super) fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{suffix}"));
        self.path.with_file_name(name)
    }

    /// `journal.jsonl` → `journal.20261129T031500123Z.jsonl`.
    fn archive_path(&self) -> PathBuf {
        let stamp: String = now()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let (stem, ext) = self.stem_ext();
        let mut path = self.path.with_file_name(format!("{stem}.{stamp}{ext}"));
        let mut n = 1;
        while path.exists() {
            path = self.path.with_file_name(format!("{stem}.{stamp}-{n}{ext}"));
            n += 1;
        }
        path
    }

    fn stem_ext(&self) -> (String, String) {
        let name = self
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
            _ => (name, String::new()),
        }
    }

    /// The archives beside the active file, newest first.
    pub fn archives(&self) -> Result<Vec<PathBuf>, String> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (stem, ext) = self.stem_ext();
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        };
        let mut found: Vec<(String, PathBuf)> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let stamp = name.strip_prefix(&format!("{stem}."))?.strip_suffix(&ext)?;
                let digits = stamp.split('-').next()?;
                (digits.len() >= 16
                    && digits.ends_with('Z')
                    && digits.contains('T')
                    && digits.as_bytes()[..8].iter().all(u8::is_ascii_digit))
                .then(|| (stamp.to_string(), e.path()))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    /// The active file, then the archives newest first: where runs are looked for.
    pub(super) fn files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = vec![self.path.clone()];
        files.extend(self.archives()?);
        Ok(files)
    }
}

impl Rotated {
    pub fn describe(&self, path: &Path) -> String {
        let mut out = format!(
            "journal {} rolled over to {}",
            path.display(),
            self.archive.as_deref().unwrap_or("-")
        );
        if !self.carried.is_empty() {
            out.push_str(&format!(
                "; {} unfinished run(s) carried over: {}",
                self.carried.len(),
                self.carried.join(", ")
            ));
        }
        if !self.removed.is_empty() {
            out.push_str(&format!(
                "; removed past the retention: {}",
                self.removed.join(", ")
            ));
        }
        if !self.kept.is_empty() {
            out.push_str(&format!(
                "; kept past the retention, a run in each is unfinished: {}",
                self.kept.join(", ")
            ));
        }
        out
    }
}

pub(super) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// One `write` of the whole line: other writers append beside us under the shared lock.
fn write_line(file: &mut File, line: &LineOut) -> std::io::Result<()> {
    let mut bytes = vec![];
    if !ends_with_newline(file)? {
        // A run killed mid-write left a torn line; keep ours on a line of its own.
        bytes.push(b'\n');
    }
    write_line_to(&mut bytes, line)?;
    file.write_all(&bytes)?;
    file.sync_data()
}

pub(super) fn write_line_to(out: &mut impl Write, line: &LineOut) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

fn file_id(file: &File) -> std::io::Result<FileId> {
    Ok(meta_id(&file.metadata()?))
}

fn meta_id(m: &std::fs::Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    }
}

/// How long a writer waits for a rotation or compaction in another process to finish.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// How long a writer past the limit waits for other writers to let go before it rolls over;
/// a writer stopped mid-write delays each run start by this much, not more.
const ROTATION_WAIT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub(super) enum Hold {
    /// Appending.
    Shared,
    /// Replacing the file (rotation, compaction).
    Exclusive,
}

/// Takes the lock within `wait`; false if another process held it all that time.
fn lock(file: &File, hold: Hold, wait: Duration) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let kind = match hold {
        Hold::Shared => libc::LOCK_SH,
        Hold::Exclusive => libc::LOCK_EX,
    };
    let deadline = std::time::Instant::now() + wait;
    loop {
        // SAFETY: flock on a descriptor we own; the lock ends when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

pub(super) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn ends_with_newline(file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    Ok(read_at(file, len - 1, 1)?[0] == b'\n')
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o600)
        .open(path)
}

pub(super) fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}
