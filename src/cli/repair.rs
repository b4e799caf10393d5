//! `seqsync repair`: after cutover, every destination sequence behind the data of a column it
//! feeds is set past that data (and past the source's value plus the offset, where a source
//! answers), all or nothing, undo-able. Any task status will do.

use super::exit::Done;
use super::global::{print_notice, setup, sources, Format, Global, SelectArgs};
use super::sync::{confirm_apply_and_report, Asked};
use crate::engine::instance::Endpoint;
use crate::engine::model::Engine;
use crate::engine::offset::Offset;
use crate::engine::repair::{parse_margin, DEFAULT_MARGIN};
use crate::engine::run::{self, RepairOptions, RepairSource, RepairTarget, AD_HOC};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::Error;
use clap::Args;

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Instance id from the config file or a DTS job id, in any status: its destination is
    /// repaired, and its source read when it answers
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
    /// Also set each sequence at least to this source's value plus --offset (it must answer)
    #[arg(long, value_name = "URL", conflicts_with = "no_source")]
    pub source: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub source_engine: Engine,
    /// Repair from the destination's data alone, even if the instance's source answers
    #[arg(long)]
    pub no_source: bool,
    /// Ids kept free past each column's largest value (a non-negative whole number)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MARGIN, allow_hyphen_values = true,
          value_parser = parse_margin)]
    pub margin: u64,
    /// With a source: added to its values (default: the config's offset, else the margin)
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<Offset>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Also read columns that no index leads (a full scan each, said before it starts)
    #[arg(long)]
    pub scan_unindexed: bool,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Sequences per apply transaction
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

pub async fn run(cli: &Global, args: &RepairArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, args.batch_size)?;
    let offset = RepairOptions::offset_or_margin(args.offset.or(settings.offset), args.margin);
    let given_source = args
        .source
        .as_ref()
        .map(|url| run::source(&Endpoint::new(args.source_engine, url), &print_notice))
        .transpose()?;
    let mut target = match (&args.instance, &args.destination) {
        (Some(id), _) => {
            let instance = run::find(
                sources(&settings),
                id,
                settings.instance(id),
                &settings.timeouts,
                &print_notice,
            )
            .await?;
            let mut target = run::repair_target(&instance, &print_notice)?;
            if args.no_source || given_source.is_some() {
                target.source = RepairSource::None;
            }
            target
        }
        (None, Some(url)) => RepairTarget {
            id: AD_HOC.to_string(),
            destination: run::destination(
                &Endpoint::new(args.destination_engine, url),
                &print_notice,
            )?,
            source: RepairSource::None,
            selection: Default::default(),
        },
        (None, None) => return Err(Error::usage("give --instance ID or --destination URL")),
    };
    if let Some(source) = given_source {
        target.source = RepairSource::Required(source);
    }
    target.selection = target.selection.and(&args.select.selection()?);
    let options = RepairOptions {
        margin: args.margin,
        offset,
        scan_unindexed: args.scan_unindexed,
    };
    let mut prepared = run::repair(&ctx, &target, options, &print_notice).await?;
    let asked = Asked {
        yes: args.yes,
        allow_lower: false,
        format: args.format,
        ad_hoc: args.instance.is_none(),
    };
    confirm_apply_and_report(&mut prepared, &ctx, &asked).await
}
