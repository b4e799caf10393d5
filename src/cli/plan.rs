//! `seqsync plan`: what a sync would change, without changing anything.

use super::exit::Done;
use super::global::{print_notice, setup, Global, PlanArgs};
use crate::engine::run;
use crate::engine::Error;
use crate::report::print_rows;

pub async fn run(cli: &Global, args: &PlanArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, args.batch_size)?;
    let target = args.target(&settings).await?;
    let options = args.options(&settings)?;
    let prepared = run::plan(&ctx, &target, options, &print_notice).await?;
    print_rows(
        args.format.into(),
        &prepared.context,
        &prepared.rows,
        "planned",
        None,
    );
    super::global::hint_allow_lower(&prepared.rows, options.allow_lower);
    Ok(Done::rows_left_out(prepared.has_problems()))
}
