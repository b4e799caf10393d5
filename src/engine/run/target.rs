//! From what the operator named (a configured instance, or an ad-hoc pair of URLs) to the
//! endpoints a run reads and writes, with the pair checked and passwords resolved.

use super::context::{Notice, Notify};
use crate::engine::instance::{Endpoint, Instance};
use crate::engine::model::{check_pair, Engine, Sequence};
use crate::engine::oracle::OracleEndpoint;
use crate::engine::postgres::PgEndpoint;
use crate::engine::select::Selection;
use crate::engine::{Error, Timeouts};

/// Both sides of a run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The instance id, or `ad-hoc`.
    pub id: String,
    /// The configured instance, whose prerequisites gate the run.
    pub instance: Option<Instance>,
    pub source: SourceEndpoint,
    pub destination: PgEndpoint,
    /// Which sequences to set: the instance's config, plus what the command line adds.
    pub selection: Selection,
}

/// The id journaled for runs on a pair given by URLs.
pub const AD_HOC: &str = "ad-hoc";

/// A configured instance's endpoints.
pub fn resolve(instance: &Instance, notify: Notify<'_>) -> Result<Target, Error> {
    // A DTS job may name an engine seqsync does not support, or give no address.
    let unusable: Vec<String> = crate::engine::instance::prerequisites(
        instance,
        &crate::engine::instance::Observed::declared(instance),
    )
    .into_iter()
    .filter(|p| !p.ok && matches!(p.name, "supported pair" | "known addresses"))
    .map(|p| p.reason)
    .collect();
    if !unusable.is_empty() {
        return Err(Error::refused(format!(
            "Synchronize Sequence is not available for instance {}: {}",
            instance.id,
            unusable.join("; ")
        )));
    }
    let mut target = resolve_pair(&instance.source, &instance.destination, notify)?;
    target.id = instance.id.clone();
    target.instance = Some(instance.clone());
    target.selection = instance.selection.clone();
    Ok(target)
}

/// An ad-hoc pair: only the pair itself is checked (there is no task to gate).
pub fn resolve_pair(
    source: &Endpoint,
    destination_endpoint: &Endpoint,
    notify: Notify<'_>,
) -> Result<Target, Error> {
    check_pair(source.engine, destination_endpoint.engine).map_err(Error::refused)?;
    Ok(Target {
        id: AD_HOC.to_string(),
        instance: None,
        source: self::source(source, notify)?,
        destination: destination(destination_endpoint, notify)?,
        selection: Selection::default(),
    })
}

/// A destination endpoint; its warnings (an ignored ~/.pgpass) go to `notify`.
pub fn destination(endpoint: &Endpoint, notify: Notify<'_>) -> Result<PgEndpoint, Error> {
    pg_endpoint(endpoint, "destination", notify)
}

fn pg_endpoint(endpoint: &Endpoint, side: &str, notify: Notify<'_>) -> Result<PgEndpoint, Error> {
    if endpoint.engine == Engine::Oracle {
        return Err(Error::refused(format!(
            "the {side} engine 'oracle' is supported as a source only"
        )));
    }
    let resolved =
        PgEndpoint::new(&endpoint.url, endpoint.password()).map_err(|e| e.context(side))?;
    for warning in &resolved.warnings {
        crate::log::line("WARN", warning);
        notify(Notice::warning(warning.clone()));
    }
    Ok(resolved)
}

/// Where source values are read: PostgreSQL protocol, or Oracle.
#[derive(Clone, Debug)]
pub enum SourceEndpoint {
    Pg(PgEndpoint),
    Oracle(OracleEndpoint),
}

impl SourceEndpoint {
    /// The source as it may be shown: never a password.
    pub fn display(&self) -> String {
        match self {
            SourceEndpoint::Pg(e) => e.display.clone(),
            SourceEndpoint::Oracle(e) => e.display(),
        }
    }

    /// How many sequences the source has (Oracle: by reading them).
    pub async fn count(&self, timeouts: &Timeouts) -> Result<usize, Error> {
        match self {
            SourceEndpoint::Pg(e) => e.connect(timeouts).await?.count_sequences().await,
            SourceEndpoint::Oracle(_) => Ok(self.read(timeouts).await?.len()),
        }
    }

    pub(super) async fn read(&self, timeouts: &Timeouts) -> Result<Vec<Sequence>, Error> {
        match self {
            SourceEndpoint::Pg(e) => e.connect(timeouts).await?.read_sequences().await,
            SourceEndpoint::Oracle(e) => {
                // The blocking driver has its own call timeout; this also bounds the connect.
                let limit = timeouts.connect + timeouts.statement;
                tokio::time::timeout(limit, e.read_sequences(timeouts))
                    .await
                    .map_err(|_| {
                        Error::failed(format!(
                            "{}: no answer within {}",
                            e.display(),
                            humantime::format_duration(limit)
                        ))
                    })?
            }
        }
    }
}

/// The source endpoint of a configured (or ad-hoc) source, also on its own (offset advice needs
/// no destination); its warnings go to `notify`. An Oracle URL may carry its user as
/// `user@//host:port/service`.
pub fn source(endpoint: &Endpoint, notify: Notify<'_>) -> Result<SourceEndpoint, Error> {
    if endpoint.engine != Engine::Oracle {
        return pg_endpoint(endpoint, "source", notify).map(SourceEndpoint::Pg);
    }
    let (user, connect_string) = match (&endpoint.user, endpoint.url.split_once("@//")) {
        (Some(user), _) => (user.clone(), endpoint.url.clone()),
        (None, Some((user, rest))) => (user.to_string(), format!("//{rest}")),
        (None, None) => {
            return Err(Error::usage(
                "source: an oracle source needs a user: set `user` in the config, or write user@//host:port/service",
            ))
        }
    };
    let mut oracle = OracleEndpoint::new(&connect_string, &user, endpoint.password());
    oracle.owners = endpoint.owners.clone();
    oracle.case = endpoint.name_case;
    oracle.schema_map = endpoint.schema_map.clone().into_iter().collect();
    Ok(SourceEndpoint::Oracle(oracle))
}
