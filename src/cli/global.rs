//! What every subcommand shares: the global options, the arguments that pick a pair or a
//! journaled run's destination, the formats, and loading the config into the use cases'
//! context.

use crate::config::{self, Settings};
use crate::engine::instance::Endpoint;
use crate::engine::journal::Journal;
use crate::engine::model::Engine;
use crate::engine::offset::Offset;
use crate::engine::plan::PlanOptions;
use crate::engine::run::{self, Context, Level, Notice, Target};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::select::Selection;
use crate::engine::text::shown;
use crate::engine::Error;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Options accepted before or after any subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Config file (default: $SEQSYNC_CONFIG, ./seqsync.toml, $XDG_CONFIG_HOME/seqsync/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Journal file (default: $XDG_STATE_HOME/seqsync/journal.jsonl)
    #[arg(long, global = true, value_name = "FILE", env = "SEQSYNC_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// Log file (default: $XDG_STATE_HOME/seqsync/seqsync.log)
    #[arg(long, global = true, value_name = "FILE", env = "SEQSYNC_LOG")]
    pub log_file: Option<PathBuf>,
}

/// Where a run's pair comes from: an instance, or two URLs.
#[derive(Debug, Args)]
pub struct PairArgs {
    /// Instance id from the config file (or a DTS job id)
    #[arg(long, value_name = "ID", conflicts_with_all = ["source", "destination"])]
    pub instance: Option<String>,
    /// Source connection string (ad-hoc pair instead of --instance)
    #[arg(long, requires = "destination", value_name = "URL")]
    pub source: Option<String>,
    /// Destination connection string (ad-hoc pair instead of --instance)
    #[arg(long, requires = "source", value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub source_engine: Engine,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub destination_engine: Engine,
}

/// Which sequences a run sets, added to the instance's `include` / `exclude` in the config.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Set only sequences whose schema.name (destination's or source's) matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out sequences whose schema.name (destination's or source's) matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

impl SelectArgs {
    /// The target with these patterns added to its selection; a malformed glob is a usage error.
    pub fn narrow(&self, mut target: Target) -> Result<Target, Error> {
        target.selection = target.selection.and(&self.selection()?);
        Ok(target)
    }

    /// The patterns given; a malformed glob is a usage error.
    pub fn selection(&self) -> Result<Selection, Error> {
        Selection::new(self.include.clone(), self.exclude.clone())
            .map_err(|e| Error::usage(format!("--{e}")))
    }
}

/// Where a plan's pair comes from, and how it is planned.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Added to each source value (subtracted for descending sequences); default from the config
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<Offset>,
    /// Also set destinations that are already past their target back to it
    #[arg(long)]
    pub allow_lower: bool,
    /// Also read serial/identity columns that no index leads (a full scan each) to flag behind-data
    #[arg(long)]
    pub scan_unindexed: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Sequences per apply transaction
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

/// Where a journaled run's destination is, when it is not the configured instance's.
#[derive(Debug, Args)]
pub struct DestinationArgs {
    /// Destination connection string of an ad-hoc run (default: the run's instance in the config)
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub destination_engine: Engine,
}

impl DestinationArgs {
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.destination
            .as_ref()
            .map(|url| Endpoint::new(self.destination_engine, url))
    }
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

/// The config, and the context every use case runs in.
pub fn setup(cli: &Global, batch_size: usize) -> Result<(Settings, Context), Error> {
    let settings = config::load(cli.config.as_deref()).map_err(Error::usage)?;
    let journal = cli
        .journal
        .clone()
        .or(settings.journal.clone())
        .unwrap_or_else(Journal::default_path);
    let context = Context {
        timeouts: settings.timeouts,
        journal: Journal::new(journal)
            .with_rotation(settings.journal_rotate_at, settings.journal_archives),
        batch_size,
    };
    Ok((settings, context))
}

/// Where the config says instances come from.
pub fn sources(settings: &Settings) -> run::Sources<'_> {
    run::Sources {
        configured: &settings.instances,
        dts: settings.dts.as_ref(),
        overlays: &settings.overlays,
    }
}

/// What the operator should know, on stderr (and in the log, where the engine put it).
pub fn print_notice(notice: Notice) {
    match notice.level {
        Level::Warning => eprintln!("seqsync: warning: {}", shown(&notice.text)),
        Level::Settled | Level::Trouble => eprintln!("seqsync: {}", shown(&notice.text)),
    }
}

impl PairArgs {
    /// The instance from the config, or the ad-hoc pair.
    pub async fn target(&self, settings: &Settings) -> Result<Target, Error> {
        match (&self.instance, &self.source, &self.destination) {
            (Some(id), _, _) => {
                let instance = run::find(
                    sources(settings),
                    id,
                    settings.instance(id),
                    &settings.timeouts,
                    &print_notice,
                )
                .await?;
                run::resolve(&instance, &print_notice)
            }
            (None, Some(source), Some(destination)) => run::resolve_pair(
                &Endpoint::new(self.source_engine, source),
                &Endpoint::new(self.destination_engine, destination),
                &print_notice,
            ),
            _ => Err(Error::usage(
                "give --instance ID, or both --source URL and --destination URL",
            )),
        }
    }
}

impl PlanArgs {
    pub async fn target(&self, settings: &Settings) -> Result<Target, Error> {
        self.select.narrow(self.pair.target(settings).await?)
    }

    pub fn options(&self, settings: &Settings) -> Result<PlanOptions, Error> {
        Ok(PlanOptions {
            offset: offset(self.offset, settings)?,
            allow_lower: self.allow_lower,
            scan_unindexed: self.scan_unindexed,
        })
    }
}

/// The offset given, or the config's default.
pub fn offset(given: Option<Offset>, settings: &Settings) -> Result<Offset, Error> {
    given.or(settings.offset).ok_or_else(|| {
        Error::usage("no offset: pass --offset N or set [defaults] offset in the config file")
    })
}

impl From<Format> for crate::report::RowFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => crate::report::RowFormat::Table,
            Format::Json => crate::report::RowFormat::Json,
            Format::Csv => crate::report::RowFormat::Csv,
        }
    }
}

/// The CLI's own way past an `ahead` row, said once under the rows (the engine's message is
/// the same for both front ends, and the TUI has no such flag).
pub fn hint_allow_lower(rows: &[crate::engine::model::PlanRow], allow_lower: bool) {
    let ahead = rows
        .iter()
        .filter(|r| r.status == crate::engine::model::RowStatus::Ahead)
        .count();
    if ahead > 0 && !allow_lower {
        eprintln!(
            "seqsync: {ahead} sequence(s) already past the target were left alone; \
             --allow-lower sets them back, once you are sure no id past the target is in use"
        );
    }
}
