//! `seqsync rates`: how fast each source sequence moves, and the offset that covers a horizon
//! at that rate. Reads the source twice; changes nothing.

use super::exit::Done;
use super::global::{print_notice, setup, sources, Global, ListFormat};
use super::watch::positive_duration;
use crate::engine::instance::Endpoint;
use crate::engine::model::{display_name, Engine};
use crate::engine::run;
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::watch::suggested_offset;
use crate::engine::Error;
use crate::report::{columns, print};
use clap::Args;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct RatesArgs {
    /// Instance id from the config file (or a DTS job id)
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "source",
        required_unless_present = "source"
    )]
    pub instance: Option<String>,
    /// Source connection string (instead of --instance)
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub source_engine: Engine,
    /// Time between the two readings
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub sample: Duration,
    /// How long the advised offset should last at the measured rate
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = positive_duration)]
    pub horizon: Duration,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

pub async fn run(cli: &Global, args: &RatesArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    let source = match (&args.instance, &args.source) {
        (Some(id), _) => {
            let instance = run::find(
                sources(&settings),
                id,
                settings.instance(id),
                &settings.timeouts,
                &print_notice,
            )
            .await?;
            run::resolve(&instance, &print_notice)?.source
        }
        (None, Some(url)) => run::source(&Endpoint::new(args.source_engine, url), &print_notice)?,
        (None, None) => return Err(Error::usage("give --instance ID or --source URL")),
    };
    let advice = run::rates(&source, args.sample, args.horizon, &ctx.timeouts).await?;
    let horizon = humantime::format_duration(args.horizon).to_string();
    let sample = humantime::format_duration(args.sample).to_string();
    let suggested = suggested_offset(&advice);
    match args.format {
        ListFormat::Table => {
            let body: Vec<[String; 4]> = advice
                .iter()
                .map(|a| {
                    [
                        display_name(&a.schema, &a.name),
                        a.source_value.to_string(),
                        a.rate.map_or("-".into(), |r| format!("{r:.2}")),
                        a.offset.to_string(),
                    ]
                })
                .collect();
            let offset_header = format!("OFFSET FOR {horizon}");
            let mut out = columns(
                &["SEQUENCE", "VALUE", "IDS/S", &offset_header],
                &body,
                &[false, true, true, true],
            );
            out += &match suggested {
                Some(n) => format!(
                    "an offset of {n} covers every sequence for {horizon} at the rates measured over {sample}\n"
                ),
                None => "no sequence to measure\n".to_string(),
            };
            print(&out);
        }
        ListFormat::Json => {
            let sequences: Vec<serde_json::Value> = advice
                .iter()
                .map(|a| {
                    json!({
                        "schema": a.schema,
                        "name": a.name,
                        "source_value": a.source_value,
                        "rate_per_second": a.rate,
                        "offset": a.offset,
                    })
                })
                .collect();
            print(&crate::report::json(&json!({
                "sample_seconds": args.sample.as_secs_f64(),
                "horizon_seconds": args.horizon.as_secs_f64(),
                "suggested_offset": suggested,
                "sequences": sequences,
            })));
        }
    }
    Ok(Done::Complete)
}
