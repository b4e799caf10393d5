//! `seqsync recover`: settle every interrupted run this command can reach.

use super::exit::Done;
use super::global::{print_notice, setup, DestinationArgs, Global};
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use clap::Args;

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub destination: DestinationArgs,
}

pub async fn run(cli: &Global, args: &RecoverArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    let report = run::recover(
        &ctx,
        &settings.instances,
        args.destination.endpoint().as_ref(),
        &print_notice,
    )
    .await?;
    if report.unfinished == 0 {
        println!("no interrupted run in {}", ctx.journal.path().display());
    }
    if report.clean {
        Ok(Done::Complete)
    } else {
        Err(Error::rollback_incomplete(
            "an interrupted run could not be settled to all or nothing; look at the destination",
        ))
    }
}
