//! Which instances there are: the config's, and with `[dts]` the DTS jobs of its regions (a
//! config entry with a job's id completes that job rather than listing it twice).

use super::context::{Notice, Notify};
use super::status::deadline;
use crate::engine::detect::{observe_each, ObserveGate};
use crate::engine::dts::{self, DtsSettings, Listing, Overlay, Unanswered};
use crate::engine::instance::{Instance, Observed};
use crate::engine::{Error, Timeouts};
use futures_util::StreamExt;

/// Where instances come from.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub configured: &'a [Instance],
    pub dts: Option<&'a DtsSettings>,
    pub overlays: &'a [Overlay],
}

/// The DTS jobs, observed as DTS lists them; empty without `[dts]`.
pub async fn discover(sources: Sources<'_>, timeouts: &Timeouts) -> Listing {
    match sources.dts {
        None => Listing::default(),
        Some(settings) => dts::list(settings, sources.overlays, timeouts, deadline(timeouts)).await,
    }
}

/// What `list` found.
#[derive(Debug, Default)]
pub struct Found {
    /// Every instance with what is known of it now: config entries first, in their order.
    pub instances: Vec<(Instance, Observed)>,
    /// Places DTS could not be asked, and answers that could not be read.
    pub unanswered: Vec<Unanswered>,
    /// Config entries that complete no DTS job.
    pub unmatched: Vec<String>,
    /// Where DTS's credentials came from (never a secret).
    pub credentials_from: Option<String>,
}

/// Every instance, each observed through `gate` within its deadline, handed to `each` as soon
/// as it is known (so a long list is never silent): DTS's jobs once DTS has answered, and the
/// config's entries as they answer — held back only until DTS has, since a job it lists
/// replaces the config's entry of the same id.
pub async fn list(
    sources: Sources<'_>,
    timeouts: &Timeouts,
    gate: &ObserveGate,
    mut each: impl FnMut(&Instance, &Observed),
) -> Found {
    let configured = sources.configured;
    let discovery = discover(sources, timeouts);
    let observations = observe_each(configured, timeouts, gate, deadline(timeouts));
    tokio::pin!(discovery, observations);
    let mut listing: Option<Listing> = None;
    let mut seen: Vec<Option<Observed>> = vec![None; configured.len()];
    let mut held: Vec<usize> = vec![];
    let mut observing = !configured.is_empty();
    let listed_by_dts = |listing: &Listing, id: &str| listing.found.iter().any(|(i, _)| i.id == id);
    while listing.is_none() || observing {
        tokio::select! {
            found = &mut discovery, if listing.is_none() => {
                for (instance, observed) in &found.found {
                    each(instance, observed);
                }
                for index in held.drain(..) {
                    let instance: &Instance = &configured[index];
                    if !listed_by_dts(&found, &instance.id) {
                        each(instance, seen[index].as_ref().expect("held rows were seen"));
                    }
                }
                listing = Some(found);
            }
            next = observations.next(), if observing => match next {
                Some((index, observed)) => {
                    match &listing {
                        Some(found) if !listed_by_dts(found, &configured[index].id) => {
                            each(&configured[index], &observed)
                        }
                        Some(_) => {}
                        None => held.push(index),
                    }
                    seen[index] = Some(observed);
                }
                None => observing = false,
            },
        }
    }
    let listing = listing.expect("the loop ends once DTS has answered");
    let mut instances: Vec<(Instance, Observed)> = configured
        .iter()
        .cloned()
        .zip(
            seen.into_iter()
                .map(|o| o.expect("every instance was observed")),
        )
        .filter(|(i, _)| !listed_by_dts(&listing, &i.id))
        .collect();
    instances.extend(listing.found);
    Found {
        instances,
        unanswered: listing.unanswered,
        unmatched: listing.unmatched,
        credentials_from: listing.credentials_from,
    }
}

/// Every instance, none of them observed: what the guard lists again and again (each guarded
/// instance's own loop reads its status every round, through sessions it keeps), so a relist
/// opens no database connection. DTS's job replaces the config's entry of the same id.
pub async fn enumerate(
    sources: Sources<'_>,
    timeouts: &Timeouts,
) -> (Vec<Instance>, Vec<Unanswered>) {
    let configured = sources.configured;
    let listing = discover(sources, timeouts).await;
    let listed_by_dts = |id: &str| listing.found.iter().any(|(i, _)| i.id == id);
    let mut instances: Vec<Instance> = configured
        .iter()
        .filter(|i| !listed_by_dts(&i.id))
        .cloned()
        .collect();
    instances.extend(listing.found.into_iter().map(|(instance, _)| instance));
    (instances, listing.unanswered)
}

/// The instance `id`: a DTS job (completed by its config entry) when `[dts]` is configured,
/// else the config's entry. If DTS cannot be asked, a complete config entry is used, saying so.
pub async fn find(
    sources: Sources<'_>,
    id: &str,
    configured: Result<&Instance, String>,
    timeouts: &Timeouts,
    notify: Notify<'_>,
) -> Result<Instance, Error> {
    let Some(settings) = sources.dts else {
        return configured.cloned().map_err(Error::usage);
    };
    match dts::find(settings, sources.overlays, id, timeouts, deadline(timeouts)).await {
        Ok((instance, _)) => Ok(instance),
        Err(dts_error) => match configured {
            Ok(instance) => {
                if !dts_error.starts_with("no DTS job") {
                    notify(Notice::warning(format!(
                        "{dts_error}; using instance '{id}' as the config defines it"
                    )));
                }
                Ok(instance.clone())
            }
            Err(_) => Err(Error::usage(format!("no instance '{id}': {dts_error}"))),
        },
    }
}
