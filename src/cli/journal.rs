//! `seqsync journal`: where the journal is, how big it is, and its newest runs, so an operator
//! sees it without reading JSON by hand; `compact` and `rotate` control its size by hand.

use super::exit::Done;
use super::global::{setup, Global, ListFormat};
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::text::{self, shown};
use crate::engine::Error;
use crate::report::print;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub action: Option<JournalAction>,
    /// How many of the newest runs to list
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub runs: usize,
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum JournalAction {
    /// Rewrite the journal so each run's rows are written once (older journals wrote them in
    /// every entry); every run is kept
    Compact,
    /// Roll the journal over to an archive now; unfinished runs stay in the journal
    Rotate,
}

pub async fn run(cli: &Global, args: &JournalArgs) -> Result<Done, Error> {
    let (_, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    match args.action {
        Some(JournalAction::Compact) => {
            let done = ctx.journal.compact().map_err(Error::failed)?;
            if args.format == ListFormat::Json {
                print(&crate::report::json(&done));
            } else {
                print(&format!(
                    "journal {}: {} → {}, {}{}\n",
                    shown(&ctx.journal.path().display().to_string()),
                    size(done.bytes_before),
                    size(done.bytes_after),
                    count(done.entries, "entry", "entries"),
                    match done.dropped {
                        0 => String::new(),
                        n => format!(", {n} unreadable line(s) left out (a torn write or garbage)"),
                    }
                ));
            }
            return Ok(Done::Complete);
        }
        Some(JournalAction::Rotate) => {
            let done = ctx.journal.rotate().map_err(Error::failed)?;
            if args.format == ListFormat::Json {
                print(&crate::report::json(&done));
            } else {
                print(&format!("{}\n", shown(&done.describe(ctx.journal.path()))));
            }
            return Ok(Done::Complete);
        }
        None => {}
    }
    let overview = run::overview(&ctx, args.runs)?;
    if args.format == ListFormat::Json {
        print(&crate::report::json(&overview));
        return Ok(Done::Complete);
    }
    if !overview.exists {
        print(&format!(
            "journal {}: none yet (the first plan or sync writes it; --journal FILE or SEQSYNC_JOURNAL choose another)\n",
            shown(&overview.path)
        ));
        return Ok(Done::Complete);
    }
    let mut out = format!(
        "journal {}: {}, {}, {}; rolls over at {}, keeps {} archives",
        shown(&overview.path),
        size(overview.bytes),
        count(overview.entries, "entry", "entries"),
        count(overview.runs, "run", "runs"),
        size(overview.rotate_at),
        overview.keep_archives
    );
    match overview.unfinished.len() {
        0 => out.push('\n'),
        n => out.push_str(&format!(
            " — {n} unfinished (the next plan, sync or recover on its destination settles it): {}\n",
            overview.unfinished.join(", ")
        )),
    }
    if overview.unreadable > 0 {
        out.push_str(&format!(
            "{} unreadable line(s) (a torn write or garbage) are skipped; `seqsync journal compact` leaves them out\n",
            overview.unreadable
        ));
    }
    for archive in &overview.archives {
        out.push_str(&format!(
            "archive {}: {}\n",
            shown(&archive.path),
            size(archive.bytes)
        ));
    }
    if !overview.recent.is_empty() {
        out.push_str(&format!(
            "{:<25}  {:<19}  {:<20}  {:<19}  ROWS\n",
            "RUN", "WHEN (UTC)", "INSTANCE", "LAST WORD"
        ));
    }
    for entry in &overview.recent {
        let when = entry.at.get(..19).unwrap_or(&entry.at).replace('T', " ");
        let mut word = entry.event.word().to_string();
        if let Some(undone) = &entry.undo_of {
            word = format!("{word} (undo {})", text::fit(undone, 8));
        }
        let cells = [
            text::pad(&entry.run_id, 25, false),
            text::pad(&when, 19, false),
            text::pad(&text::fit(&entry.instance, 20), 20, false),
            text::pad(&text::fit(&word, 19), 19, false),
        ];
        out.push_str(&format!(
            "{}  {}\n",
            cells.join("  "),
            counts(&entry.summary)
        ));
    }
    if overview.recent.len() == args.runs {
        out.push_str(&format!(
            "the {} newest runs; --runs N lists more\n",
            overview.recent.len()
        ));
    }
    print(&out);
    Ok(Done::Complete)
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// `2 updated, 1 unchanged`, from an entry's summary.
fn counts(summary: &std::collections::BTreeMap<String, usize>) -> String {
    if summary.is_empty() {
        return "no sequences".to_string();
    }
    summary
        .iter()
        .map(|(k, v)| format!("{v} {}", shown(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 run`, `3 runs`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
