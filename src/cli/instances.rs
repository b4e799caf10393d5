//! `seqsync instances`: every configured instance and DTS job, observed concurrently, each
//! within its deadline. The table prints each row as its instance answers; JSON is one
//! document at the end (with a progress line on a terminal meanwhile). Any place instances
//! could not be asked (a DTS region, a job it answered in an unexpected shape) is said on
//! stderr, carried in the JSON's `unanswered`, and makes the exit code 3, so that a script
//! can tell "no jobs" from "DTS is down".

use super::exit::Done;
use super::global::{print_notice, setup, sources, Global, ListFormat};
use crate::config;
use crate::engine::run::{self, ObserveGate};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use crate::report::{print, InstanceTable, Listed};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct InstancesArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

pub async fn run(cli: &Global, args: &InstancesArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    if settings.file.is_none() {
        return Err(Error::usage(format!(
            "no config file found (looked in {}); write one with `seqsync example-config > \
             seqsync.toml`, or use plan/sync with --source and --destination",
            config::search_paths_text()
        )));
    }
    let table = InstanceTable::new(&settings.instances);
    let mut progress = Progress::on_terminal(
        args.format == ListFormat::Json,
        settings.instances.len(),
        settings.dts.is_some(),
    );
    if args.format == ListFormat::Table {
        print(&table.header());
    }
    let found = run::list(
        sources(&settings),
        &ctx.timeouts,
        &ObserveGate::default(),
        |instance, observed| match args.format {
            ListFormat::Table => print(&table.row(&Listed::new(instance, observed.clone()))),
            ListFormat::Json => progress.answered(),
        },
    )
    .await;
    progress.clear();
    for unanswered in &found.unanswered {
        print_notice(run::Notice::warning(unanswered.to_string()));
    }
    if let Some(from) = &found.credentials_from {
        eprintln!(
            "seqsync: DTS credentials from {}",
            crate::engine::text::shown(from)
        );
    }
    for unmatched in &found.unmatched {
        print_notice(run::Notice::warning(unmatched.clone()));
    }
    if args.format == ListFormat::Json {
        let instances: Vec<Listed> = found
            .instances
            .iter()
            .map(|(instance, observed)| Listed::new(instance, observed.clone()))
            .collect();
        crate::report::print_json(&crate::report::InstancesDocument {
            instances: &instances,
            unanswered: &found.unanswered,
        });
    }
    Ok(if found.unanswered.is_empty() {
        Done::Complete
    } else {
        Done::Unanswered
    })
}

/// `seqsync: 1234 of 5000 instances answered…` on a terminal's stderr, at most once a second,
/// while a JSON listing is gathered; nothing when stderr is not a terminal.
struct Progress {
    shown: bool,
    total: usize,
    dts: bool,
    answered: usize,
    last: Option<Instant>,
}

impl Progress {
    fn on_terminal(wanted: bool, total: usize, dts: bool) -> Progress {
        Progress {
            shown: wanted && std::io::stderr().is_terminal(),
            total,
            dts,
            answered: 0,
            last: None,
        }
    }

    fn answered(&mut self) {
        self.answered += 1;
        if !self.shown
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        let dts = if self.dts { " (and DTS's jobs)" } else { "" };
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\rseqsync: {} of {} instance(s){dts} answered…",
            self.answered.min(self.total),
            self.total
        );
        let _ = stderr.flush();
    }

    fn clear(&self) {
        if self.shown && self.last.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
