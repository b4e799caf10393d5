//! The headless CLI for runbooks. Each subcommand is one file here: its clap arguments and a
//! `run` that parses what is left, calls one use case of `engine::run`, and prints. Exit codes
//! come from the error's kind, in `exit.rs`, and nowhere else.

mod check;
mod completions;
mod conninfo;
mod example_config;
pub mod exit;
mod global;
mod guard;
mod instances;
mod journal;
mod plan;
mod prompt;
mod rates;
mod recover;
mod repair;
mod stopping;
mod sync;
mod tui;
mod undo;
mod watch;

use clap::{CommandFactory, Parser, Subcommand};
pub use global::Global;
use global::PlanArgs;

#[derive(Debug, Parser)]
#[command(
    name = "seqsync",
    version = build_version(),
    about = "Sets destination sequences from the source's values plus an offset, all or nothing",
    after_help = "Exit codes: 0 done or nothing to do; 1 failed, nothing applied; 2 usage, config or \
                  prerequisite error; 3 applied, but some rows were not; 4 failed and the rollback \
                  was incomplete."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the configured instances with status, phase and whether Synchronize Sequence is available
    Instances(instances::InstancesArgs),
    /// Show what a sync would change, without changing anything
    Plan(PlanArgs),
    /// Apply the plan to the destination, all or nothing, and show before and after
    Sync(sync::SyncArgs),
    /// Keep destination sequences ahead, round after round, while the task replicates (never lowers)
    Watch(watch::WatchArgs),
    /// Measure each source sequence's write rate and advise the offset that covers a horizon
    Rates(rates::RatesArgs),
    /// Put back the values a run replaced, all or nothing, unless a sequence was used since
    Undo(undo::UndoArgs),
    /// Settle runs interrupted while applying (seqsync killed): each ends applied in full or not at all
    Recover(recover::RecoverArgs),
    /// List destination serial/identity sequences whose next value is already in their column (changes nothing)
    Check(check::CheckArgs),
    /// After cutover: set every sequence behind its column's data past it (any task status, source optional), all or nothing
    Repair(repair::RepairArgs),
    /// Where the journal is, its size and its newest runs (changes nothing)
    Journal(journal::JournalArgs),
    /// Connect as a run would and say where it arrived: server, database, user, TLS, primary or standby
    Conninfo(conninfo::ConninfoArgs),
    /// Print a shell completion script (bash, zsh or fish) to standard output
    Completions(completions::CompletionsArgs),
    /// Print a manual page (roff) to standard output: seqsync man [SUBCOMMAND] | man -l -
    Man(completions::ManArgs),
    /// Print an example config file to standard output: seqsync example-config > seqsync.toml
    ExampleConfig,
}

/// `0.1.0 (commit 1a2b3c4, x86_64-unknown-linux-gnu.2.17)`: what an operator pastes into a
/// report. `scripts/package` sets the commit and the target it built for; a plain `cargo
/// build` says what it knows (no build script: nothing is rebuilt when the commit moves).
fn build_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let commit = option_env!("SEQSYNC_BUILD_COMMIT").unwrap_or("unknown");
        let target = match option_env!("SEQSYNC_BUILD_TARGET") {
            Some(target) => target.to_string(),
            None => format!(
                "{}-{}{}",
                std::env::consts::ARCH,
                std::env::consts::OS,
                if cfg!(target_env = "gnu") { "-gnu" } else { "" }
            ),
        };
        format!("{} (commit {commit}, {target})", env!("CARGO_PKG_VERSION"))
    })
}

/// Runs the subcommand (the TUI when there is none) and returns the exit code.
pub async fn dispatch(cli: &Cli) -> u8 {
    let (verb, result) = match &cli.command {
        Some(Command::Instances(args)) => ("instances", instances::run(&cli.global, args).await),
        Some(Command::Plan(args)) => ("plan", plan::run(&cli.global, args).await),
        Some(Command::Sync(args)) => ("sync", sync::run(&cli.global, args).await),
        Some(Command::Watch(args)) if args.all => ("watch", guard::run(&cli.global, args).await),
        Some(Command::Watch(args)) => ("watch", watch::run(&cli.global, args).await),
        Some(Command::Rates(args)) => ("rates", rates::run(&cli.global, args).await),
        Some(Command::Undo(args)) => ("undo", undo::run(&cli.global, args).await),
        Some(Command::Recover(args)) => ("recover", recover::run(&cli.global, args).await),
        Some(Command::Check(args)) => ("check", check::run(&cli.global, args).await),
        Some(Command::Repair(args)) => ("repair", repair::run(&cli.global, args).await),
        Some(Command::Journal(args)) => ("journal", journal::run(&cli.global, args).await),
        Some(Command::Conninfo(args)) => ("conninfo", conninfo::run(&cli.global, args).await),
        Some(Command::Completions(args)) => ("completions", completions::run(args, Cli::command())),
        Some(Command::Man(args)) => ("man", completions::man(args, Cli::command())),
        Some(Command::ExampleConfig) => ("example-config", example_config::run()),
        None => ("tui", tui::run(&cli.global).await),
    };
    exit::finish(verb, result)
}
