//! Which instances there are: the config's, and with `[dts]` the DTS jobs of its regions (a
//! config entry with a job's id completes that job rather than listing it twice).

use super::context::{Notice, Notify};
use super::status::{deadline, observe_all};
use crate::engine::dts::{self, DtsSettings, Listing, Overlay};
use crate::engine::instance::{Instance, Observed};
use crate::engine::{Error, Timeouts};

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

/// Every instance with what is known of it now, config entries first, each within its deadline;
/// and one line per place DTS could not be asked.
pub async fn list(
    sources: Sources<'_>,
    timeouts: &Timeouts,
    concurrency: usize,
) -> (Vec<(Instance, Observed)>, Vec<String>) {
    let (listing, observed) = tokio::join!(
        discover(sources, timeouts),
        observe_all(sources.configured, timeouts, concurrency)
    );
    let from_dts = |id: &str| listing.found.iter().any(|(i, _)| i.id == id);
    let mut all: Vec<(Instance, Observed)> = sources
        .configured
        .iter()
        .cloned()
        .zip(observed)
        .filter(|(i, _)| !from_dts(&i.id))
        .collect();
    let said = listing.said();
    all.extend(listing.found);
    (all, said)
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
