//! `seqsync journal`: where the journal is, how big it is, and its newest runs, so an operator
//! sees it without reading JSON by hand. It changes nothing.

use super::exit::Done;
use super::global::{setup, Global, ListFormat};
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::text::{self, shown};
use crate::engine::Error;
use crate::report::{print, summary_text};
use clap::Args;

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// How many of the newest runs to list
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub runs: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

pub async fn run(cli: &Global, args: &JournalArgs) -> Result<Done, Error> {
    let (_, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
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
        "journal {}: {}, {} entries, {} runs",
        shown(&overview.path),
        size(overview.bytes),
        overview.entries,
        overview.runs
    );
    match overview.unfinished.len() {
        0 => out.push('\n'),
        n => out.push_str(&format!(
            " — {n} unfinished (the next plan, sync or recover on its destination settles it): {}\n",
            overview.unfinished.join(", ")
        )),
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
            summary_text(&entry.rows)
        ));
    }
    if overview.runs > overview.recent.len() {
        out.push_str(&format!(
            "the {} newest of {} runs; --runs N lists more\n",
            overview.recent.len(),
            overview.runs
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
