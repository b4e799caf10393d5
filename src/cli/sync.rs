//! `seqsync sync`: the plan, a confirmation, then the apply, all or nothing.

use super::exit::Done;
use super::global::{print_notice, setup, Format, Global, PlanArgs};
use super::prompt::confirm;
use crate::engine::run::{self, Context, Prepared};
use crate::engine::saga::{ApplyOptions, ApplyProgress};
use crate::engine::text::shown;
use crate::engine::Error;
use crate::report::print_rows;
use clap::Args;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(cli: &Global, args: &SyncArgs) -> Result<Done, Error> {
    let plan = &args.plan;
    let (settings, ctx) = setup(cli, plan.batch_size)?;
    let target = plan.target(&settings).await?;
    let options = plan.options(&settings)?;
    let mut prepared = run::plan(&ctx, &target, options, &print_notice).await?;
    let ad_hoc = plan.pair.instance.is_none();
    let asked = Asked {
        yes: args.yes,
        allow_lower: plan.allow_lower,
        format: plan.format,
        ad_hoc,
    };
    confirm_apply_and_report(&mut prepared, &ctx, &asked).await
}

/// What the command line said about applying a plan.
pub(super) struct Asked {
    pub yes: bool,
    pub allow_lower: bool,
    pub format: Format,
    /// The run has no instance, so undo needs `--destination`.
    pub ad_hoc: bool,
}

/// Asks on the terminal (unless `--yes`) when the plan changes something, then applies it and
/// prints the result: `sync` and `repair` alike.
pub(super) async fn confirm_apply_and_report(
    prepared: &mut Prepared,
    ctx: &Context,
    asked: &Asked,
) -> Result<Done, Error> {
    if prepared.changes() > 0 && !asked.yes {
        confirm(
            &prepared.rows,
            prepared.changes(),
            &prepared.context.destination,
        )?;
    }
    let apply_options = ApplyOptions {
        allow_lower: asked.allow_lower,
        batch_size: ctx.batch_size,
        ..ApplyOptions::default()
    };
    super::global::hint_allow_lower(&prepared.rows, asked.allow_lower);
    apply_and_report(prepared, ctx, &apply_options, asked.format, asked.ad_hoc).await
}

/// Applies with Ctrl-C rolling back, a progress line on a terminal, and the result printed,
/// with how to undo it (`ad_hoc`: the run has no instance, so undo needs `--destination`).
pub(super) async fn apply_and_report(
    prepared: &mut Prepared,
    ctx: &Context,
    apply_options: &ApplyOptions,
    format: Format,
    ad_hoc: bool,
) -> Result<Done, Error> {
    let cancel = Arc::new(AtomicBool::new(false));
    let on_interrupt = cancel.clone();
    let interrupt_listener = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("seqsync: interrupted; rolling back what was set so far…");
            on_interrupt.store(true, Ordering::SeqCst);
        }
    });
    let show_progress = std::io::stderr().is_terminal() && prepared.changes() > 0;
    let progress = move |p: ApplyProgress| {
        if show_progress {
            eprint!("\rseqsync: applied {}/{} ", p.done, p.total);
        }
    };
    let executed = prepared
        .execute(&ctx.journal, apply_options, &progress, &cancel)
        .await;
    interrupt_listener.abort();
    if show_progress {
        eprintln!();
    }
    let (outcome, journal_error) = executed?;
    let error = outcome.error();
    print_rows(
        format.into(),
        &prepared.context,
        &prepared.rows,
        outcome.word(),
        error.as_ref().map(|e| e.message.as_str()),
    );
    if let Some(e) = journal_error {
        eprintln!("seqsync: warning: {}", shown(&e));
    }
    if matches!(outcome, run::Outcome::Applied) {
        // On stderr: stdout stays the table, JSON or CSV a script reads.
        let destination = if ad_hoc {
            " --destination URL (this destination)"
        } else {
            ""
        };
        eprintln!(
            "seqsync: run {run}: to put every sequence it set back, seqsync undo {run}{destination}",
            run = prepared.context.run_id
        );
    }
    match error {
        Some(e) => {
            let message = format!("{} (run {})", e.message, prepared.context.run_id);
            Err(Error { message, ..e })
        }
        None => Ok(Done::rows_left_out(prepared.has_problems())),
    }
}
