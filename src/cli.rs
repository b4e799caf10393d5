//! The headless subcommands for runbooks: `plan` and `sync`.

use crate::config::{self, Settings};
use crate::engine::detect;
use crate::engine::instance::{prerequisites, refusal, Endpoint, Instance, Observed, Prerequisite};
use crate::engine::journal::{Journal, RunContext};
use crate::engine::model::{check_pair, Engine, PlanRow};
use crate::engine::plan::PlanOptions;
use crate::engine::postgres::{self, ApplyOptions, ApplyProgress, PgEndpoint};
use crate::engine::run;
use crate::engine::Timeouts;
use crate::report::{columns, render_csv, render_json, render_table, summary_text};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit codes, as documented in the README.
pub mod exit {
    /// Done, or nothing to do.
    pub const OK: u8 = 0;
    /// Failed; nothing was applied.
    pub const FAILED: u8 = 1;
    /// Usage, configuration or prerequisite error; nothing was tried.
    pub const USAGE: u8 = 2;
    /// Applied, but some rows were not (out-of-range, no-privilege, missing).
    pub const PARTIAL_ROWS: u8 = 3;
    /// Failed, and the rollback could not restore every sequence: look at the destination.
    pub const ROLLBACK_INCOMPLETE: u8 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "seqsync",
    version,
    about = "Sets destination sequences from the source's values plus an offset, all or nothing",
    after_help = "Exit codes: 0 done or nothing to do; 1 failed, nothing applied; 2 usage, config or \
                  prerequisite error; 3 applied, but some rows were not; 4 failed and the rollback \
                  was incomplete."
)]
pub struct Cli {
    /// Config file (default: $SEQSYNC_CONFIG, ./seqsync.toml, $XDG_CONFIG_HOME/seqsync/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Journal file (default: $XDG_STATE_HOME/seqsync/journal.jsonl)
    #[arg(long, global = true, value_name = "FILE", env = "SEQSYNC_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Log file (default: $XDG_STATE_HOME/seqsync/seqsync.log)
    #[arg(long, global = true, value_name = "FILE", env = "SEQSYNC_LOG")]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the configured instances with status, phase and whether Synchronize Sequence is available
    Instances(InstancesArgs),
    /// Show what a sync would change, without changing anything
    Plan(PlanArgs),
    /// Apply the plan to the destination, all or nothing, and show before and after
    Sync(SyncArgs),
    /// Put back the values a run replaced, all or nothing, unless a sequence was used since
    Undo(UndoArgs),
    /// Settle runs interrupted while applying (seqsync killed): each ends applied in full or not at all
    Recover(RecoverArgs),
    /// List destination serial/identity sequences whose next value is already in their column (changes nothing)
    Check(CheckArgs),
}

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
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = parse_engine)]
    pub destination_engine: Engine,
    /// Also read columns that no index leads (a full scan each)
    #[arg(long)]
    pub scan_unindexed: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// Where a journaled run's destination is, when it is not the configured instance's.
#[derive(Debug, Args)]
pub struct DestinationArgs {
    /// Destination connection string of an ad-hoc run (default: the run's instance in the config)
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = parse_engine)]
    pub destination_engine: Engine,
}

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
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = postgres::DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub destination: DestinationArgs,
}

#[derive(Debug, Args)]
pub struct InstancesArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Instance id from the config file
    #[arg(long, value_name = "ID", conflicts_with_all = ["source", "destination"], required_unless_present_all = ["source", "destination"])]
    pub instance: Option<String>,
    /// Source connection string (ad-hoc pair instead of --instance)
    #[arg(long, requires = "destination", value_name = "URL")]
    pub source: Option<String>,
    /// Destination connection string (ad-hoc pair instead of --instance)
    #[arg(long, requires = "source", value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = parse_engine)]
    pub source_engine: Engine,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = parse_engine)]
    pub destination_engine: Engine,
    /// Added to each source value (subtracted for descending sequences); default from the config
    #[arg(long, allow_hyphen_values = true, value_parser = parse_offset)]
    pub offset: Option<i64>,
    /// Also set destinations that are already past their target back to it
    #[arg(long)]
    pub allow_lower: bool,
    /// Also read serial/identity columns that no index leads (a full scan each) to flag behind-data
    #[arg(long)]
    pub scan_unindexed: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Sequences per apply transaction
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = postgres::DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn parse_engine(text: &str) -> Result<Engine, String> {
    Engine::parse(text)
}

/// The offset as a DBA types it: digits, `_` allowed as a separator; never negative.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    if cleaned.starts_with('-')
        && cleaned[1..].chars().all(|c| c.is_ascii_digit())
        && cleaned.len() > 1
    {
        return Err(format!("the offset must not be negative (got {text}); it is subtracted automatically for descending sequences"));
    }
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "the offset must be a non-negative whole number, such as 10000 (got '{text}')"
        ));
    }
    cleaned
        .parse::<i64>()
        .map_err(|_| format!("the offset {text} is too large: at most {}", i64::MAX))
}

/// One side of a pair, resolved from the config or the command line.
struct Side {
    endpoint: PgEndpoint,
}

struct Target {
    instance: String,
    /// The configured instance, when the pair came from the config file.
    configured: Option<Instance>,
    source: run::SourceEndpoint,
    destination: Side,
    offset: i64,
    timeouts: Timeouts,
    journal: Journal,
}

/// An error with the exit code it deserves.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: exit::USAGE,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: exit::FAILED,
        message: message.into(),
    }
}

fn ad_hoc(engine: Engine, url: &str) -> Endpoint {
    Endpoint::new(engine, url)
}

fn source_side(endpoint: &Endpoint) -> Result<run::SourceEndpoint, Failure> {
    if endpoint.engine != Engine::Oracle {
        return side(endpoint, "source").map(|s| run::SourceEndpoint::Pg(s.endpoint));
    }
    run::source_endpoint(endpoint).map_err(|e| usage(e.0))
}

fn side(endpoint: &Endpoint, label: &str) -> Result<Side, Failure> {
    let endpoint = run::pg_endpoint(endpoint, label).map_err(|e| {
        if endpoint.engine == Engine::Oracle {
            failed(e.0)
        } else {
            usage(e.0)
        }
    })?;
    for warning in &endpoint.warnings {
        eprintln!("seqsync: warning: {warning}");
        crate::log::line("WARN", warning);
    }
    Ok(Side { endpoint })
}

/// `--journal`/`SEQSYNC_JOURNAL`, else the config's, else the default.
fn journal_path(cli: &Cli, settings: &Settings) -> PathBuf {
    cli.journal
        .clone()
        .or(settings.journal.clone())
        .unwrap_or_else(Journal::default_path)
}

fn resolve(cli: &Cli, args: &PlanArgs) -> Result<Target, Failure> {
    let settings: Settings = config::load(cli.config.as_deref()).map_err(usage)?;
    let configured = match &args.instance {
        Some(id) => Some(settings.instance(id).map_err(usage)?.clone()),
        None => None,
    };
    let (instance, source, destination) = match &configured {
        Some(inst) => {
            check_pair(inst.source.engine, inst.destination.engine).map_err(usage)?;
            (
                inst.id.clone(),
                source_side(&inst.source)?,
                side(&inst.destination, "destination")?,
            )
        }
        None => {
            check_pair(args.source_engine, args.destination_engine).map_err(usage)?;
            let (Some(s), Some(d)) = (&args.source, &args.destination) else {
                return Err(usage(
                    "give --instance ID, or both --source URL and --destination URL",
                ));
            };
            (
                "ad-hoc".to_string(),
                source_side(&ad_hoc(args.source_engine, s))?,
                side(&ad_hoc(args.destination_engine, d), "destination")?,
            )
        }
    };
    let offset = args.offset.or(settings.offset).ok_or_else(|| {
        usage("no offset: pass --offset N or set [defaults] offset in the config file")
    })?;
    let journal_path = journal_path(cli, &settings);
    Ok(Target {
        instance,
        configured,
        source,
        destination,
        offset,
        timeouts: settings.timeouts,
        journal: Journal::new(journal_path),
    })
}

/// `seqsync plan` and `seqsync sync`. Returns the exit code.
pub async fn run(cli: &Cli, args: &PlanArgs, apply: bool, yes: bool) -> u8 {
    let verb = if apply { "sync" } else { "plan" };
    match run_inner(cli, args, apply, yes).await {
        Ok(code) => {
            crate::log::line("INFO", &format!("{verb} finished with exit code {code}"));
            code
        }
        Err(f) => {
            crate::log::line("ERROR", &format!("{verb}: {} (exit {})", f.message, f.code));
            eprintln!("seqsync: {}", f.message);
            f.code
        }
    }
}

async fn run_inner(cli: &Cli, args: &PlanArgs, apply: bool, yes: bool) -> Result<u8, Failure> {
    let target = resolve(cli, args)?;
    settle_interrupted(
        &target.journal,
        &target.destination.endpoint,
        &target.timeouts,
    )
    .await?;
    if let Some(instance) = &target.configured {
        let observed = detect::observe(instance, &target.timeouts).await;
        if let Some(reason) = refusal(&prerequisites(instance, &observed)) {
            return Err(usage(format!(
                "Synchronize Sequence is not available for instance {}: {reason}",
                instance.id
            )));
        }
    }
    let options = PlanOptions {
        offset: target.offset,
        allow_lower: args.allow_lower,
        scan_unindexed: args.scan_unindexed,
    };
    let mut prepared = run::prepare(
        &target.source,
        &target.destination.endpoint,
        &target.instance,
        options,
        &target.timeouts,
    )
    .await
    .map_err(|e| failed(e.0))?;
    let rows_ok_code = if prepared.has_problems() {
        exit::PARTIAL_ROWS
    } else {
        exit::OK
    };
    if !apply {
        prepared.journal_plan(&target.journal).map_err(failed)?;
        print_result(
            args.format,
            &prepared.context,
            &prepared.rows,
            "planned",
            None,
        );
        return Ok(rows_ok_code);
    }
    let changes = prepared.changes();
    if changes > 0 && !yes {
        confirm(
            &prepared.rows,
            changes,
            &target.destination.endpoint.display,
        )?;
    }

    let apply_options = ApplyOptions {
        allow_lower: args.allow_lower,
        batch_size: args.batch_size,
        ..ApplyOptions::default()
    };
    execute_and_report(
        &mut prepared,
        &target.journal,
        &apply_options,
        args.format,
        rows_ok_code,
    )
    .await
}

/// Applies with Ctrl-C rolling back, a progress line on a terminal, and the result printed.
async fn execute_and_report(
    prepared: &mut run::Prepared,
    journal: &Journal,
    apply_options: &ApplyOptions,
    format: Format,
    rows_ok_code: u8,
) -> Result<u8, Failure> {
    let changes = prepared.changes();
    let cancel = Arc::new(AtomicBool::new(false));
    let on_interrupt = cancel.clone();
    let interrupt_listener = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("seqsync: interrupted; rolling back what was set so far…");
            on_interrupt.store(true, Ordering::SeqCst);
        }
    });
    let show_progress = std::io::stderr().is_terminal() && changes > 0;
    let progress = move |p: ApplyProgress| {
        if show_progress {
            eprint!("\rseqsync: applied {}/{} ", p.done, p.total);
        }
    };
    let executed = prepared
        .execute(journal, apply_options, &progress, &cancel)
        .await;
    interrupt_listener.abort();
    if show_progress {
        eprintln!();
    }
    let (outcome, journal_error) = executed.map_err(failed)?;
    let (code, error) = match &outcome {
        run::Outcome::NothingToDo | run::Outcome::Applied => (rows_ok_code, None),
        run::Outcome::RolledBack(m) => (exit::FAILED, Some(m.clone())),
        run::Outcome::Incomplete(m) => (exit::ROLLBACK_INCOMPLETE, Some(m.clone())),
    };
    print_result(
        format,
        &prepared.context,
        &prepared.rows,
        outcome.word(),
        error.as_deref(),
    );
    if let Some(e) = journal_error {
        eprintln!("seqsync: warning: {e}");
    }
    if let Some(message) = error {
        eprintln!("seqsync: {message} (run {})", prepared.context.run_id);
    }
    Ok(code)
}

/// Settles runs a killed seqsync left unfinished on this destination and says how each ended.
/// Returns whether every one ended applied in full or not at all.
async fn settle_interrupted(
    journal: &Journal,
    destination: &PgEndpoint,
    timeouts: &crate::engine::Timeouts,
) -> Result<bool, Failure> {
    let settled = run::recover_interrupted(journal, destination, timeouts)
        .await
        .map_err(|e| failed(e.0))?;
    for recovered in &settled {
        eprintln!("seqsync: {}", recovered.message);
    }
    Ok(!settled
        .iter()
        .any(|r| matches!(r.recovery, Some(postgres::Recovery::Incomplete { .. }))))
}

/// The destination of a journaled run: `--destination`, else its instance's in the config.
fn run_destination(
    settings: &Settings,
    args: &DestinationArgs,
    instance: Option<&str>,
) -> Result<PgEndpoint, Failure> {
    if let Some(url) = &args.destination {
        return side(&ad_hoc(args.destination_engine, url), "destination").map(|s| s.endpoint);
    }
    let Some(id) = instance.filter(|i| *i != "ad-hoc") else {
        return Err(usage(
            "this run was not made for a configured instance: pass --destination URL",
        ));
    };
    let configured = settings.instance(id).map_err(usage)?;
    side(&configured.destination, "destination").map(|s| s.endpoint)
}

/// `seqsync undo RUN_ID`. Returns the exit code.
pub async fn undo(cli: &Cli, args: &UndoArgs) -> u8 {
    match undo_inner(cli, args).await {
        Ok(code) => code,
        Err(f) => {
            crate::log::line("ERROR", &format!("undo: {} (exit {})", f.message, f.code));
            eprintln!("seqsync: {}", f.message);
            f.code
        }
    }
}

async fn undo_inner(cli: &Cli, args: &UndoArgs) -> Result<u8, Failure> {
    let settings: Settings = config::load(cli.config.as_deref()).map_err(usage)?;
    let journal = Journal::new(journal_path(cli, &settings));
    let entries = journal.read_all().map_err(failed)?;
    let instance = entries
        .iter()
        .rev()
        .find(|e| e.run_id == args.run_id)
        .map(|e| e.instance.clone())
        .ok_or_else(|| {
            usage(format!(
                "no run {} in the journal {}; `seqsync` lists runs in each instance's History tab",
                args.run_id,
                journal.path().display()
            ))
        })?;
    let destination = run_destination(&settings, &args.destination, Some(&instance))?;
    if !settle_interrupted(&journal, &destination, &settings.timeouts).await? {
        return Err(Failure {
            code: exit::ROLLBACK_INCOMPLETE,
            message:
                "an interrupted run could not be settled; look at the destination before undoing"
                    .into(),
        });
    }
    let mut prepared = run::prepare_undo(&journal, &args.run_id, &destination, &settings.timeouts)
        .await
        .map_err(|e| failed(e.0))?;
    if !args.yes {
        confirm(&prepared.rows, prepared.changes(), &destination.display)?;
    }
    execute_and_report(
        &mut prepared,
        &journal,
        &run::undo_options(args.batch_size),
        args.format,
        exit::OK,
    )
    .await
}

/// One destination sequence as `seqsync check` reports it.
#[derive(Debug, serde::Serialize)]
struct Checked {
    sequence: String,
    column: String,
    next_value: Option<i64>,
    /// The column's largest value (smallest for a descending sequence).
    data_edge: Option<i64>,
    /// ok, behind-data or unchecked.
    status: &'static str,
    note: String,
}

/// `seqsync check`: every serial or identity sequence of the destination whose next value its
/// column already holds. Reads only. Exit 3 when any is behind its data.
pub async fn check(cli: &Cli, args: &CheckArgs) -> u8 {
    match check_inner(cli, args).await {
        Ok(code) => code,
        Err(f) => {
            crate::log::line("ERROR", &format!("check: {} (exit {})", f.message, f.code));
            eprintln!("seqsync: {}", f.message);
            f.code
        }
    }
}

async fn check_inner(cli: &Cli, args: &CheckArgs) -> Result<u8, Failure> {
    let settings: Settings = config::load(cli.config.as_deref()).map_err(usage)?;
    let destination = match (&args.instance, &args.destination) {
        (Some(id), _) => {
            side(
                &settings.instance(id).map_err(usage)?.destination,
                "destination",
            )?
            .endpoint
        }
        (None, Some(url)) => side(&ad_hoc(args.destination_engine, url), "destination")?.endpoint,
        (None, None) => return Err(usage("give --instance ID or --destination URL")),
    };
    let session = destination
        .connect(&settings.timeouts)
        .await
        .map_err(|e| failed(e.0))?;
    let sequences = session.read_sequences().await.map_err(|e| failed(e.0))?;
    let owned: Vec<&crate::engine::model::Sequence> =
        sequences.iter().filter(|s| s.owned_by.is_some()).collect();
    let edges = session.data_edges(&owned, args.scan_unindexed).await;
    let checked: Vec<Checked> = owned
        .iter()
        .zip(edges)
        .map(|(seq, edge)| checked(seq, edge.expect("owned sequences have an edge")))
        .collect();
    let behind = checked.iter().filter(|c| c.status == "behind-data").count();
    let text = match args.format {
        ListFormat::Json => {
            let mut t = serde_json::to_string_pretty(&checked).expect("plain data serializes");
            t.push('\n');
            t
        }
        ListFormat::Table => {
            let lines: Vec<[String; 6]> = checked
                .iter()
                .map(|c| {
                    let shown = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
                    [
                        c.sequence.clone(),
                        c.column.clone(),
                        shown(c.next_value),
                        shown(c.data_edge),
                        c.status.to_string(),
                        c.note.clone(),
                    ]
                })
                .collect();
            let mut t = columns(
                &[
                    "SEQUENCE",
                    "COLUMN",
                    "NEXT VALUE",
                    "DATA EDGE",
                    "STATUS",
                    "NOTE",
                ],
                &lines,
                &[false, false, true, true, false, false],
            );
            t.push_str(&format!(
                "{} serial/identity sequence(s) checked on {}: {behind} behind their data, {} unchecked\n",
                checked.len(),
                destination.display,
                checked.iter().filter(|c| c.status == "unchecked").count()
            ));
            t
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    Ok(if behind > 0 {
        exit::PARTIAL_ROWS
    } else {
        exit::OK
    })
}

fn checked(seq: &crate::engine::model::Sequence, edge: crate::engine::model::DataEdge) -> Checked {
    use crate::engine::model::DataEdge;
    let owner = seq.owned_by.as_ref().expect("owned");
    let next_value = seq.next_display().filter(|_| seq.can_read);
    let (data_edge, status, note) = match (&edge, next_value) {
        (DataEdge::Value(Some(v)), Some(next)) => {
            let behind = if seq.ascending() {
                next <= *v
            } else {
                next >= *v
            };
            if behind {
                let gap = (*v as i128 - next as i128).abs() + 1;
                (
                    Some(*v),
                    "behind-data",
                    format!("the next {gap} id(s) already exist: sync with a larger offset, or setval past {v}"),
                )
            } else {
                (Some(*v), "ok", String::new())
            }
        }
        (DataEdge::Value(v), None) => (*v, "unchecked", "cannot read the sequence".to_string()),
        (DataEdge::Value(None), Some(_)) => (None, "ok", "the table is empty".to_string()),
        (DataEdge::Unindexed, _) => (
            None,
            "unchecked",
            "no index leads the column (--scan-unindexed reads it)".to_string(),
        ),
        (DataEdge::Unreadable(why), _) => (None, "unchecked", why.clone()),
    };
    Checked {
        sequence: seq.qualified_name(),
        column: owner.qualified_column(),
        next_value,
        data_edge,
        status,
        note,
    }
}

/// `seqsync recover`: settles every interrupted run this command can reach.
pub async fn recover(cli: &Cli, args: &RecoverArgs) -> u8 {
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("seqsync: {e}");
            return exit::USAGE;
        }
    };
    let journal = Journal::new(journal_path(cli, &settings));
    let entries = match journal.read_unfinished() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("seqsync: {e}");
            return exit::FAILED;
        }
    };
    let pending = crate::engine::journal::unfinished(&entries);
    if pending.is_empty() {
        println!("no interrupted run in {}", journal.path().display());
        return exit::OK;
    }
    let mut code = exit::OK;
    let mut done: Vec<String> = vec![];
    for entry in pending {
        if done.contains(&entry.destination) {
            continue;
        }
        done.push(entry.destination.clone());
        let destination = match run_destination(&settings, &args.destination, Some(&entry.instance))
        {
            Ok(d) if d.display == entry.destination => d,
            Ok(_) | Err(_) => {
                eprintln!(
                    "seqsync: run {} on {} is still unsettled: pass --destination with that server's URL",
                    entry.run_id, entry.destination
                );
                code = code.max(exit::FAILED);
                continue;
            }
        };
        match settle_interrupted(&journal, &destination, &settings.timeouts).await {
            Ok(true) => {}
            Ok(false) => code = exit::ROLLBACK_INCOMPLETE,
            Err(f) => {
                eprintln!("seqsync: {}", f.message);
                code = code.max(exit::FAILED);
            }
        }
    }
    code
}

/// Asks on the terminal; without one, refuses.
fn confirm(rows: &[PlanRow], changes: usize, destination: &str) -> Result<(), Failure> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let Ok(tty) = tty else {
        return Err(usage(
            "refusing to apply without confirmation: no terminal to ask on; pass --yes",
        ));
    };
    let mut out = std::io::stderr();
    let _ = write!(out, "{}", render_table(rows));
    let _ = write!(
        out,
        "Apply {changes} change(s) to {destination}? Type 'yes' to continue: "
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut answer)
        .map_err(|e| usage(format!("cannot read the answer: {e}")))?;
    if answer.trim().eq_ignore_ascii_case("yes") || answer.trim().eq_ignore_ascii_case("y") {
        Ok(())
    } else {
        Err(usage("not confirmed; nothing was applied"))
    }
}

fn print_result(
    format: Format,
    context: &RunContext,
    rows: &[PlanRow],
    outcome: &str,
    error: Option<&str>,
) {
    let text = match format {
        Format::Table => {
            let mut t = render_table(rows);
            t.push_str(&format!("{outcome}: {}\n", summary_text(rows)));
            t
        }
        Format::Json => render_json(context, rows, outcome, error),
        Format::Csv => render_csv(rows),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_parsed_strictly_with_clear_errors() {
        assert_eq!(parse_offset("10000"), Ok(10_000));
        assert_eq!(parse_offset("10_000"), Ok(10_000));
        assert_eq!(parse_offset("0"), Ok(0));
        assert!(parse_offset("-5")
            .unwrap_err()
            .contains("must not be negative"));
        assert!(parse_offset("abc").unwrap_err().contains("whole number"));
        assert!(parse_offset("1e5").unwrap_err().contains("whole number"));
        assert!(parse_offset("").unwrap_err().contains("whole number"));
        assert!(parse_offset("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(parse_offset("9223372036854775807"), Ok(i64::MAX));
    }

    proptest::proptest! {
        #[test]
        fn every_offset_round_trips_with_separators_and_spaces(
            value in 0i64..=i64::MAX,
            separators in proptest::collection::vec(proptest::bool::ANY, 19),
        ) {
            let text: String = value
                .to_string()
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && separators[i]).then_some('_');
                    sep.into_iter().chain(std::iter::once(c))
                })
                .collect();
            proptest::prop_assert_eq!(parse_offset(&format!(" {text} ")), Ok(value));
        }

        /// Any text is either a non-negative offset made of exactly its digits, or an error that
        /// says what an offset is.
        #[test]
        fn any_text_is_an_offset_or_says_what_one_is(text in proptest::prelude::any::<String>()) {
            match parse_offset(&text) {
                Ok(value) => {
                    proptest::prop_assert!(value >= 0);
                    let digits = text.trim().replace('_', "");
                    proptest::prop_assert_eq!(digits.parse::<i64>(), Ok(value));
                }
                Err(e) => proptest::prop_assert!(e.contains("offset"), "{}", e),
            }
        }

        #[test]
        fn negative_offsets_are_refused_as_such(value in 1i64..=i64::MAX) {
            let e = parse_offset(&format!("-{value}")).unwrap_err();
            proptest::prop_assert!(e.contains("must not be negative"), "{}", e);
        }
    }
}

/// `seqsync instances`: every configured instance, observed concurrently.
pub async fn instances(cli: &Cli, args: &InstancesArgs) -> u8 {
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("seqsync: {e}");
            return exit::USAGE;
        }
    };
    if settings.file.is_none() {
        eprintln!(
            "seqsync: no config file found (looked in {}); try scripts/demo, write one from \
             assets/seqsync.example.toml, or use plan/sync with --source and --destination",
            config::search_paths_text()
        );
        return exit::USAGE;
    }
    let deadline = settings.timeouts.connect + std::time::Duration::from_secs(1);
    let observed = detect::observe_all(&settings.instances, &settings.timeouts, 32, deadline).await;
    let listed: Vec<Listed> = settings
        .instances
        .iter()
        .zip(observed)
        .map(|(instance, observed)| Listed::new(instance, observed))
        .collect();
    let text = match args.format {
        ListFormat::Json => {
            let mut t = serde_json::to_string_pretty(&listed).expect("plain data serializes");
            t.push('\n');
            t
        }
        ListFormat::Table => render_instances(&listed),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    exit::OK
}

#[derive(Debug, serde::Serialize)]
struct ListedEndpoint {
    engine: Engine,
    url: String,
}

#[derive(Debug, serde::Serialize)]
struct Listed {
    id: String,
    name: String,
    kind: String,
    region: Option<String>,
    topology: String,
    subscription: Option<String>,
    source: ListedEndpoint,
    destination: ListedEndpoint,
    status: String,
    phase: String,
    two_way_detected: Option<bool>,
    note: String,
    prerequisites: Vec<Prerequisite>,
    synchronize_sequence: bool,
    reason: Option<String>,
}

impl Listed {
    fn new(instance: &Instance, observed: Observed) -> Listed {
        let prerequisites = prerequisites(instance, &observed);
        let reason = refusal(&prerequisites);
        let endpoint = |e: &crate::engine::instance::Endpoint| ListedEndpoint {
            engine: e.engine,
            url: crate::engine::secret::mask_password(&e.url),
        };
        Listed {
            id: instance.id.clone(),
            name: instance.name.clone(),
            kind: instance.kind.to_string(),
            region: instance.region.clone(),
            topology: instance.topology.to_string(),
            subscription: instance.subscription.clone(),
            source: endpoint(&instance.source),
            destination: endpoint(&instance.destination),
            status: observed.status.to_string(),
            phase: observed.phase.to_string(),
            two_way_detected: observed.two_way_detected,
            note: observed.note,
            synchronize_sequence: reason.is_none(),
            reason,
            prerequisites,
        }
    }
}

fn render_instances(listed: &[Listed]) -> String {
    let header = [
        "ID",
        "NAME",
        "KIND",
        "PAIR",
        "STATUS",
        "PHASE",
        "SYNCHRONIZE SEQUENCE",
    ];
    let lines: Vec<[String; 7]> = listed
        .iter()
        .map(|l| {
            [
                l.id.clone(),
                l.name.clone(),
                l.kind.clone(),
                format!("{} → {}", l.source.engine, l.destination.engine),
                l.status.clone(),
                l.phase.clone(),
                match &l.reason {
                    None => "available".to_string(),
                    Some(r) => format!("no: {r}"),
                },
            ]
        })
        .collect();
    columns(&header, &lines, &[false; 7])
}

/// `seqsync` alone: the terminal UI over the configured instances.
pub async fn tui(cli: &Cli) -> u8 {
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("seqsync: {e}");
            return exit::USAGE;
        }
    };
    if !std::io::stdout().is_terminal() {
        eprintln!("seqsync: the terminal UI needs a terminal; for scripts use `seqsync plan` or `seqsync sync` (see --help)");
        return exit::USAGE;
    }
    let config_note = match &settings.file {
        Some(f) => format!("Config: {}.", f.display()),
        None => format!(
            "No config file found (looked in {}). Try scripts/demo, or write one from assets/seqsync.example.toml.",
            config::search_paths_text()
        ),
    };
    let journal = journal_path(cli, &settings);
    let state =
        crate::app::state::State::new(settings.instances.clone(), settings.offset, config_note);
    let worker = crate::worker::WorkerConfig {
        timeouts: settings.timeouts,
        journal,
        batch_size: std::env::var("SEQSYNC_APPLY_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(postgres::DEFAULT_APPLY_BATCH),
        concurrency: 32,
    };
    crate::log::line(
        "INFO",
        &format!("tui started with {} instance(s)", settings.instances.len()),
    );
    match crate::tui::run(state, worker).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("seqsync: terminal error: {e}");
            exit::FAILED
        }
    }
}
