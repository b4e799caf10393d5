//! `seqsync undo RUN_ID`: put back what an applied run replaced, all or nothing.

use super::exit::Done;
use super::global::{print_notice, setup, DestinationArgs, Format, Global};
use super::prompt::confirm;
use super::sync::apply_and_report;
use crate::engine::run::{self, undo_options};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use clap::Args;

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The run to undo, as shown by `sync` and the journal
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    #[command(flatten)]
    pub destination: DestinationArgs,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Sequences per apply transaction
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

pub async fn run(cli: &Global, args: &UndoArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, args.batch_size)?;
    let mut prepared = run::undo(
        &ctx,
        &args.run_id,
        &settings.instances,
        args.destination.endpoint().as_ref(),
        &print_notice,
    )
    .await?;
    if !args.yes {
        let destination = prepared.context.destination.clone();
        confirm(&prepared.rows, prepared.changes(), &destination)?;
    }
    apply_and_report(
        &mut prepared,
        &ctx,
        &undo_options(ctx.batch_size),
        args.format,
        args.destination.endpoint().is_some(),
    )
    .await
}
