//! `seqsync conninfo`: where each endpoint's connection arrives, in psql's `\conninfo` words,
//! connecting exactly as a run does (service file, `PG*` variables, socket, certificates).

use super::exit::Done;
use super::global::{print_notice, setup, Global, ListFormat};
use crate::engine::instance::Endpoint;
use crate::engine::model::Engine;
use crate::engine::run::{self, Notice, Reached};
use crate::engine::saga::DEFAULT_APPLY_BATCH;
use crate::engine::text::shown;
use crate::engine::{Error, ErrorKind};
use crate::report::print;
use clap::Args;

#[derive(Debug, Args)]
pub struct ConninfoArgs {
    /// Instance id from the config file: both its endpoints
    #[arg(long, value_name = "ID", conflicts_with_all = ["source", "destination"], required_unless_present_any = ["source", "destination"])]
    pub instance: Option<String>,
    /// Source connection string: URL, key=value or service=NAME
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Destination connection string: URL, key=value or service=NAME
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub source_engine: Engine,
    #[arg(long, value_name = "ENGINE", default_value = "postgresql", value_parser = Engine::parse)]
    pub destination_engine: Engine,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

pub async fn run(cli: &Global, args: &ConninfoArgs) -> Result<Done, Error> {
    let (settings, ctx) = setup(cli, DEFAULT_APPLY_BATCH)?;
    let mut sides: Vec<(&'static str, Endpoint)> = vec![];
    if let Some(id) = &args.instance {
        let instance = settings.instance(id).map_err(Error::usage)?;
        sides.push(("source", instance.source.clone()));
        sides.push(("destination", instance.destination.clone()));
    }
    if let Some(url) = &args.source {
        sides.push(("source", Endpoint::new(args.source_engine, url)));
    }
    if let Some(url) = &args.destination {
        sides.push(("destination", Endpoint::new(args.destination_engine, url)));
    }
    let mut reached = vec![];
    for (side, endpoint) in &sides {
        reached.push(run::conninfo(&ctx, side, endpoint).await);
    }
    match args.format {
        ListFormat::Json => print(&crate::report::json(&reached)),
        ListFormat::Table => {
            for one in &reached {
                for warning in &one.warnings {
                    print_notice(Notice::warning(format!("{}: {warning}", one.side)));
                }
                if let Some(line) = describe(one) {
                    print(&format!("{line}\n"));
                }
            }
        }
    }
    let failed: Vec<String> = reached.iter().filter_map(|r| r.error.clone()).collect();
    if failed.is_empty() {
        return Ok(Done::Complete);
    }
    // A string to fix outranks a server that did not answer: exit 2, as for any bad input.
    let usage = reached
        .iter()
        .any(|r| matches!(r.error_kind, Some(ErrorKind::Usage | ErrorKind::Refused)));
    Err(Error {
        kind: if usage {
            ErrorKind::Usage
        } else {
            ErrorKind::Failed
        },
        message: failed.join("\n"),
    })
}

/// psql's `\conninfo` sentence, plus what a sync cares about: TLS, primary or standby, version.
fn describe(reached: &Reached) -> Option<String> {
    let a = reached.arrival.as_ref()?;
    let role = match (a.standby, a.read_only) {
        (true, _) => "standby (read-only)",
        (false, true) => "primary, read-only session",
        (false, false) => "primary (read-write)",
    };
    Some(format!(
        "{}: connected to database \"{}\" as user \"{}\" via {} at port \"{}\"\n  {} · {role} · PostgreSQL {} · application_name \"{}\"",
        reached.side,
        shown(&a.database),
        shown(&a.user),
        shown(&a.reached),
        shown(&a.port),
        a.tls.as_deref().map_or_else(|| "no TLS".to_string(), |v| format!("TLS {v}")),
        shown(&a.server_version),
        shown(&a.application_name),
    ))
}
