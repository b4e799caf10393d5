//! `seqsync check`: destination sequences whose next value their own column already holds.

use super::exit::Done;
use super::global::{print_notice, setup, Global, ListFormat};
use crate::engine::instance::Endpoint;
use crate::engine::model::Engine;
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use crate::report::{print, render_checked};
use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Instance id from the config file (its destination is checked)
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "destination",
        required_unless_present = "destination"
    )]
    pub instance: Option<String>,
    /// Destination connection string instead of --instance
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub destination_engine: Engine,
    /// Also read columns that no index leads (a full scan each)
    #[arg(long)]
    pub scan_unindexed: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

pub async fn run(cli: &Global, args: &CheckArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    let endpoint = match (&args.instance, &args.destination) {
        (Some(id), _) => settings
            .instance(id)
            .map_err(Error::usage)?
            .destination
            .clone(),
        (None, Some(url)) => Endpoint::new(args.destination_engine, url),
        (None, None) => return Err(Error::usage("give --instance ID or --destination URL")),
    };
    let destination = run::destination(&endpoint, &print_notice)?;
    let checked = run::check(&ctx, &destination, args.scan_unindexed).await?;
    print(&match args.format {
        ListFormat::Json => crate::report::json(&checked),
        ListFormat::Table => render_checked(&checked, &destination.display),
    });
    let behind = checked.iter().filter(|c| c.is_behind()).count();
    if behind > 0 {
        // On stderr: stdout stays what a script reads.
        let which = match &args.instance {
            Some(id) => format!("--instance {}", crate::engine::text::shown(id)),
            None => "--destination URL".to_string(),
        };
        eprintln!(
            "seqsync: {behind} column(s) hold ids their sequence would hand out again: \
             `seqsync repair {which}` sets each sequence past its data (it shows the plan \
             and asks first; `seqsync undo RUN` puts it back)"
        );
    }
    Ok(Done::rows_left_out(behind > 0))
}
