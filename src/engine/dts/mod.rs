//! Alibaba Cloud DTS as a source of instances: the jobs of every configured region (Data
//! Synchronization and Data Migration), their status and phase as DTS reports them, and the
//! config's `[[instances]]` entries that supply what DTS does not return (passwords, a URL).

mod client;
pub mod credentials;
mod http;
pub mod job;
pub mod settings;
pub mod sign;

use super::instance::{Endpoint, Instance, Observed, Phase, Status, TaskKind, Topology};
use super::model::{Engine, NameCase};
use super::Timeouts;
use client::Api;
use futures_util::future::join_all;
use std::collections::BTreeMap;
use std::time::Duration;

pub use settings::{DtsSettings, JobRef, DEFAULT_ENDPOINT};

/// What a config entry adds to a DTS job with the same id: any field it gives wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    pub id: String,
    pub name: Option<String>,
    pub slot: Option<String>,
    pub subscription: Option<String>,
    pub source: EndpointOverlay,
    pub destination: EndpointOverlay,
    pub selection: crate::engine::select::Selection,
    /// `topology` as the entry gives it (a DTS job's is DTS's unless asserted here).
    pub topology: Option<Topology>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverlay {
    pub engine: Option<Engine>,
    pub url: Option<String>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub sslmode: Option<String>,
    pub owners: Option<Vec<String>>,
    pub name_case: Option<NameCase>,
    pub schema_map: Option<BTreeMap<String, String>>,
}

impl EndpointOverlay {
    fn apply(&self, endpoint: &mut Endpoint) {
        if let Some(engine) = self.engine {
            endpoint.engine = engine;
            endpoint.engine_label = None;
        }
        if let Some(url) = &self.url {
            endpoint.url = url.clone();
            endpoint.problem = None;
        } else if endpoint.problem.is_none() && endpoint.engine.speaks_postgres() {
            // postgresql://host:port/db from the job: add the user and sslmode given here.
            if let Some(user) = &self.user {
                endpoint.url = endpoint.url.replacen(
                    "postgresql://",
                    &format!("postgresql://{}@", sign::percent_encode(user)),
                    1,
                );
            }
            if let Some(mode) = &self.sslmode {
                endpoint.url = format!("{}?sslmode={}", endpoint.url, sign::percent_encode(mode));
            }
        }
        if !endpoint.engine.speaks_postgres() {
            endpoint.user = self.user.clone().or(endpoint.user.take());
        }
        endpoint.password_env = self.password_env.clone().or(endpoint.password_env.take());
        if let Some(owners) = &self.owners {
            endpoint.owners = owners.clone();
        }
        if let Some(case) = self.name_case {
            endpoint.name_case = case;
        }
        if let Some(map) = &self.schema_map {
            endpoint.schema_map = map.clone();
        }
    }
}

impl Overlay {
    /// A complete `[[instances]]` entry (both engines and URLs): an instance of its own, not a
    /// completion of a DTS job.
    pub fn stands_alone(&self) -> bool {
        [&self.source, &self.destination]
            .iter()
            .all(|side| side.engine.is_some() && side.url.is_some())
    }
}

/// A DTS instance with the config's entry for it laid over.
pub fn merge(mut instance: Instance, overlays: &[Overlay]) -> Instance {
    let Some(overlay) = overlays.iter().find(|o| o.id == instance.id) else {
        return instance;
    };
    if let Some(name) = &overlay.name {
        instance.name = name.clone();
    }
    instance.slot = overlay.slot.clone().or(instance.slot);
    instance.subscription = overlay.subscription.clone().or(instance.subscription);
    overlay.source.apply(&mut instance.source);
    overlay.destination.apply(&mut instance.destination);
    instance.selection = overlay.selection.clone();
    instance
}

/// A place DTS could not be asked (a region and tab, or DTS as a whole), or part of an answer
/// that could not be read (one job, or a list cut short). Scripts get it in `instances`'s JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unanswered {
    /// Where instances were looked for: `dts`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `synchronization` or `migration`: the console's tab.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tab: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub error: String,
}

impl Unanswered {
    fn dts(region: Option<&str>, kind: Option<TaskKind>, error: String) -> Unanswered {
        Unanswered {
            source: "dts",
            region: region.map(String::from),
            tab: kind.map(|k| k.to_string()),
            job: None,
            error,
        }
    }
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DTS")?;
        if let Some(region) = &self.region {
            write!(f, " {region}")?;
        }
        if let Some(tab) = &self.tab {
            write!(f, " ({tab})")?;
        }
        if let Some(job) = &self.job {
            write!(f, " job {job}")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// DTS jobs found, and what could not be listed.
#[derive(Debug, Default)]
pub struct Listing {
    pub found: Vec<(Instance, Observed)>,
    pub unanswered: Vec<Unanswered>,
    /// Config entries meant to complete a job that no listed job has the id of (a typo).
    pub unmatched: Vec<String>,
    /// Where the DTS credentials came from (a profile, a role; never a secret).
    pub credentials_from: Option<String>,
}

impl Listing {
    /// Everything to tell the operator: the places DTS could not be asked, then the entries
    /// that complete nothing.
    pub fn said(&self) -> Vec<String> {
        self.unanswered
            .iter()
            .map(ToString::to_string)
            .chain(self.unmatched.iter().cloned())
            .collect()
    }
}

const KINDS: [TaskKind; 2] = [TaskKind::Synchronization, TaskKind::Migration];

/// Every job of every region and both tabs, asked at once, within `deadline` in all.
pub async fn list(
    settings: &DtsSettings,
    overlays: &[Overlay],
    timeouts: &Timeouts,
    deadline: Duration,
) -> Listing {
    let api = match Api::new(settings, timeouts).await {
        Ok(api) => api,
        Err(e) => {
            return Listing {
                unanswered: vec![Unanswered::dts(None, None, e)],
                ..Listing::default()
            }
        }
    };
    let asks = settings.regions.iter().flat_map(|region| {
        let api = &api;
        KINDS
            .into_iter()
            .map(move |kind| async move { (region, kind, api.jobs(region, kind, deadline).await) })
    });
    let mut listing = Listing {
        credentials_from: Some(api.credentials_from.clone()),
        ..Listing::default()
    };
    for (region, kind, jobs) in join_all(asks).await {
        match jobs {
            Ok(jobs) => {
                for (job, error) in jobs.problems {
                    listing.unanswered.push(Unanswered {
                        job,
                        ..Unanswered::dts(Some(region), Some(kind), error)
                    });
                }
                for job in jobs.jobs.iter().filter(|j| j.dts_job_id.is_some()) {
                    let one_way_asserted = overlays.iter().any(|o| {
                        Some(&o.id) == job.dts_job_id.as_ref()
                            && o.topology == Some(Topology::OneWay)
                    });
                    let (mut instance, observed) =
                        job::instance(job, kind, region, one_way_asserted);
                    instance.dts = Some(JobRef {
                        settings: settings.clone(),
                        region: region.clone(),
                        one_way_asserted,
                    });
                    listing.found.push((merge(instance, overlays), observed));
                }
            }
            Err(e) => listing
                .unanswered
                .push(Unanswered::dts(Some(region), Some(kind), e)),
        }
    }
    // Only when every region answered: a job in a region that failed may be the one.
    if listing.unanswered.is_empty() {
        for overlay in overlays.iter().filter(|o| !o.stands_alone()) {
            if !listing.found.iter().any(|(i, _)| i.id == overlay.id) {
                listing.unmatched.push(format!(
                    "config entry '{}' completes no DTS job: no job has that id in region(s) {} \
                     (check the id, or give it source and destination engine and url)",
                    overlay.id,
                    settings.regions.join(", ")
                ));
            }
        }
    }
    listing
}

/// The job with this id, from the configured regions.
pub async fn find(
    settings: &DtsSettings,
    overlays: &[Overlay],
    id: &str,
    timeouts: &Timeouts,
    deadline: Duration,
) -> Result<(Instance, Observed), String> {
    let listing = list(settings, overlays, timeouts, deadline).await;
    if let Some(found) = listing.found.into_iter().find(|(i, _)| i.id == id) {
        return Ok(found);
    }
    if listing.unanswered.is_empty() {
        Err(format!(
            "no DTS job '{id}' in region(s) {}",
            settings.regions.join(", ")
        ))
    } else {
        Err(format!(
            "DTS could not be asked about '{id}': {}",
            listing
                .unanswered
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}

/// What DTS says of one job now (`DescribeDtsJobDetail`); Unknown, saying why, when it cannot.
/// The caller bounds how long it may take.
pub async fn observe(instance: &Instance, job: &JobRef, timeouts: &Timeouts) -> Observed {
    let unknown = |note: String| Observed {
        status: Status::Unknown,
        phase: Phase::Unknown,
        two_way_detected: None,
        two_way_evidence: None,
        note,
        lag_bytes: None,
    };
    let api = match Api::new(&job.settings, timeouts).await {
        Ok(api) => api,
        Err(e) => return unknown(format!("DTS: {e}")),
    };
    match api.job(&job.region, &instance.id).await {
        Ok(found) => job::observed(&found, job.one_way_asserted),
        Err(e) => unknown(format!("DTS: {e}")),
    }
}
