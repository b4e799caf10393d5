//! `seqsync watch`: Keep Sequences Ahead from a runbook. One line per round (JSON lines with
//! `--format json`); Ctrl-C or SIGTERM stops after the current round, a second one rolls the
//! round back.

use super::exit::Done;
use super::global::{offset, print_notice, setup, Global, ListFormat, PairArgs, SelectArgs};
use super::prompt::confirm;
use super::stopping;
use crate::engine::offset::Offset;
use crate::engine::plan::PlanOptions;
use crate::engine::run::{self, Event, Round, WatchOptions};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::text::shown;
use crate::engine::Error;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Guard every instance whose task is in its incremental phase, as a service (see `guard` in the README)
    #[arg(long, conflicts_with_all = ["instance", "source", "destination", "yes"])]
    pub all: bool,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// The smallest offset any sequence gets; default from the config
    #[arg(long, allow_hyphen_values = true)]
    pub offset: Option<Offset>,
    /// Time between rounds (default: [defaults] watch_interval, else 30s)
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub interval: Option<Duration>,
    /// Give each sequence the offset its peak write rate needs over this long, when larger than --offset
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub horizon: Option<Duration>,
    /// Stop when rounds have failed (lost connections, lock timeouts) for this long
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = positive_duration)]
    pub give_up_after: Duration,
    /// Also read serial/identity columns that no index leads (a full scan each) to flag behind-data
    #[arg(long)]
    pub scan_unindexed: bool,
    /// Start without showing the first round's plan and asking
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print each round's counts only, not the sequences that moved (always so with --all)
    #[arg(long)]
    pub summary: bool,
    /// Sequences per apply transaction
    #[arg(long, hide = true, env = "SEQSYNC_APPLY_BATCH", default_value_t = DEFAULT_APPLY_BATCH)]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--max-concurrent` and `--relist-every` when not given (their help says so too).
pub const DEFAULT_MAX_CONCURRENT: u16 = 8;
pub const DEFAULT_RELIST_EVERY: Duration = Duration::from_secs(60);

/// Options of `watch --all` only.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Serve Prometheus metrics, /healthz and /readyz at ADDR:PORT (with --all)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// One line per event on stdout: text, or one JSON object (with --all)
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Rounds running at once across instances (with --all) [default: 8]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent: Option<u16>,
    /// List instances again this often: new DTS jobs and config entries (with --all) [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub relist_every: Option<Duration>,
    /// /readyz fails when a guarded instance has had no good round for this long (default: 3 intervals)
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub ready_within: Option<Duration>,
}

impl ServiceArgs {
    /// These options mean nothing for one instance: saying so beats ignoring them.
    pub fn refuse_without_all(&self) -> Result<(), Error> {
        let given: Vec<&str> = [
            ("--metrics-listen", self.metrics_listen.is_some()),
            ("--log-format", self.log_format != LogFormat::Text),
            ("--max-concurrent", self.max_concurrent.is_some()),
            ("--relist-every", self.relist_every.is_some()),
            ("--ready-within", self.ready_within.is_some()),
        ]
        .into_iter()
        .filter_map(|(option, set)| set.then_some(option))
        .collect();
        match given.as_slice() {
            [] => Ok(()),
            [one] => Err(Error::usage(format!(
                "{one} is for the guard (watch --all): add --all, or leave it out"
            ))),
            [rest @ .., last] => Err(Error::usage(format!(
                "{} and {last} are for the guard (watch --all): add --all, or leave them out",
                rest.join(", ")
            ))),
        }
    }
}

/// A duration as humans write it (`30s`, `15m`, `1h 30m`), above zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration such as 30s, 15m or 1h: {e}"))?;
    if d.is_zero() {
        return Err("the duration must be above zero".to_string());
    }
    Ok(d)
}

pub async fn run(cli: &Global, args: &WatchArgs) -> Result<Done, Error> {
    args.service.refuse_without_all()?;
    let (settings, ctx) = setup(cli, args.batch_size)?;
    let target = args.select.narrow(args.pair.target(&settings).await?)?;
    let plan = PlanOptions {
        offset: offset(args.offset, &settings)?,
        allow_lower: false,
        scan_unindexed: args.scan_unindexed,
    };
    if !args.yes {
        // The first round, shown and confirmed like a sync; later rounds only follow it.
        let prepared = run::plan(&ctx, &target, plan, &print_notice).await?;
        if prepared.changes() > 0 {
            confirm(
                &prepared.rows,
                prepared.changes(),
                &target.destination.display,
            )?;
        }
    }
    let options = WatchOptions {
        plan,
        horizon: args.horizon,
        interval: args.interval.unwrap_or(settings.watch_interval),
        give_up_after: args.give_up_after,
        batch_size: ctx.batch_size,
    };
    let mut stopping = stopping::listen(
        || eprintln!("seqsync: stopping after this round (again to roll the round back)…"),
        || eprintln!("seqsync: rolling back the current round…"),
        None,
    )?;
    let (format, summary) = (args.format, args.summary);
    let floor = plan.offset.get();
    let report = move |event: Event| print_event(format, summary, floor, &event);
    let result = run::watch(
        &ctx,
        &target,
        options,
        &print_notice,
        &report,
        &mut stopping.stop,
        &stopping.cancel,
    )
    .await;
    drop(stopping);
    let rounds = result?;
    eprintln!("seqsync: watch stopped after {rounds} round(s)");
    Ok(Done::Complete)
}

fn print_event(format: ListFormat, summary: bool, floor: i64, event: &Event) {
    match (format, event) {
        (ListFormat::Table, Event::Round(round)) => {
            let lines = round_lines(round, floor);
            match summary {
                true => println!("{}", lines.lines().next().unwrap_or_default()),
                false => print!("{lines}"),
            }
        }
        (ListFormat::Json, Event::Round(round)) => {
            println!("{}", crate::report::json_line(&round_json(round, summary)))
        }
        (
            ListFormat::Table,
            Event::Trouble {
                round,
                error,
                retry_in,
                failing_for,
            },
        ) => eprintln!(
            "seqsync: round {round} failed, nothing changed: {}; retrying in {} (failing for {})",
            shown(error),
            humantime::format_duration(*retry_in),
            humantime::format_duration(Duration::from_secs(failing_for.as_secs()))
        ),
        (
            ListFormat::Json,
            Event::Trouble {
                round,
                error,
                retry_in,
                failing_for,
            },
        ) => println!(
            "{}",
            crate::report::json_line(&json!({
                "event": "trouble",
                "round": round,
                "error": error,
                "retry_in_ms": retry_in.as_millis() as u64,
                "failing_for_ms": failing_for.as_millis() as u64,
            }))
        ),
    }
}

fn clock(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The round's line, then one indented line per refusal to report and per sequence whose rate
/// raised its offset above the floor this round.
fn round_lines(round: &Round, floor: i64) -> String {
    let mut out = format!(
        "{} round {}: read {}, moved {}, applied {} in {} ms",
        clock(round.at),
        round.number,
        round.read,
        round.changed,
        round.applied,
        round.took.as_millis()
    );
    if let Some(h) = round.smallest_headroom() {
        out += &format!(
            ", smallest headroom {} ids{} ({})",
            h.ids,
            h.minutes
                .map_or(String::new(), |m| format!(" = {m:.1} min of writes")),
            shown(&crate::engine::model::display_name(&h.schema, &h.name))
        );
    }
    if let Some(o) = &round.observed {
        out += &format!("; task {} / {}", o.status, o.phase);
    }
    if let Some(run) = &round.run_id {
        out += &format!(" (run {run})");
    }
    out.push('\n');
    for row in &round.refusals {
        out += &format!(
            "  {}: {}: {}\n",
            shown(&row.names()),
            row.status,
            shown(&row.message)
        );
    }
    for w in round
        .sequences
        .iter()
        .filter(|w| w.offset > floor && w.changed_in == Some(round.number))
    {
        out += &format!(
            "  {}: {:.1} ids/s, offset {}\n",
            shown(&w.row.names()),
            w.rate.unwrap_or(0.0),
            w.offset
        );
    }
    out
}

/// One JSON object per round: the counts, the tightest headroom, the task's state, refusals,
/// and (unless `summary`) the sequences that moved this round.
pub fn round_json(round: &Round, summary: bool) -> serde_json::Value {
    let moved: Vec<serde_json::Value> = round
        .sequences
        .iter()
        .filter(|w| !summary && w.changed_in == Some(round.number))
        .map(|w| {
            json!({
                "schema": w.row.schema,
                "name": w.row.name,
                "source_value": w.row.source_value,
                "destination_next": w.row.destination_after.or(w.row.destination_before),
                "status": w.row.status.name(),
                "offset": w.offset,
                "rate_per_second": w.rate,
                "headroom_ids": w.headroom.as_ref().map(|h| h.ids),
                "headroom_minutes": w.headroom.as_ref().and_then(|h| h.minutes),
            })
        })
        .collect();
    let refusals: Vec<serde_json::Value> = round
        .refusals
        .iter()
        .map(|r| {
            json!({"schema": r.schema, "name": r.name, "status": r.status.name(), "message": r.message})
        })
        .collect();
    let mut line = json!({
        "event": "round",
        "round": round.number,
        "at": clock(round.at),
        "read": round.read,
        "full_read": round.full,
        "changed": round.changed,
        "applied": round.applied,
        "took_ms": round.took.as_secs_f64() * 1000.0,
        "run_id": round.run_id,
        "status": round.observed.as_ref().map(|o| o.status.to_string()),
        "phase": round.observed.as_ref().map(|o| o.phase.to_string()),
        "smallest_headroom": round.smallest_headroom().map(|h| json!({
            "schema": h.schema, "name": h.name, "ids": h.ids, "minutes": h.minutes,
        })),
        "refusals": refusals,
        "sequences": moved,
    });
    if summary {
        line.as_object_mut().expect("an object").remove("sequences");
    }
    line
}
