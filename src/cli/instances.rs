//! `seqsync instances`: every configured instance, observed concurrently, each within its
//! deadline.

use super::exit::Done;
use super::global::{print_notice, setup, sources, Global, ListFormat};
use crate::config;
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use crate::report::{print, render_instances, Listed};
use clap::Args;

#[derive(Debug, Args)]
pub struct InstancesArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// Instances observed at once.
pub const CONCURRENCY: usize = 32;

pub async fn run(cli: &Global, args: &InstancesArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    if settings.file.is_none() {
        return Err(Error::usage(format!(
            "no config file found (looked in {}); try scripts/demo, write one from \
             assets/seqsync.example.toml, or use plan/sync with --source and --destination",
            config::search_paths_text()
        )));
    }
    let (found, problems) = run::list(sources(&settings), &ctx.timeouts, CONCURRENCY).await;
    let listed: Vec<Listed> = found
        .iter()
        .map(|(instance, observed)| Listed::new(instance, observed.clone()))
        .collect();
    // A region DTS did not answer for (a rejected key, a silent endpoint) is one line each.
    for problem in problems {
        print_notice(run::Notice::warning(problem));
    }
    print(&match args.format {
        ListFormat::Json => crate::report::json(&listed),
        ListFormat::Table => render_instances(&listed),
    });
    Ok(Done::Complete)
}
