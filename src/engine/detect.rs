//! Live status and phase of instances replicated by PostgreSQL logical replication, read from
//! the destination's subscription, and two-way replication seen from the source.

use super::instance::{Endpoint, Instance, Observed, Phase, Status};
use super::postgres::{PgEndpoint, PgSession};
use super::{Error, Timeouts};
use futures_util::{stream, StreamExt};
use std::time::Duration;

async fn connect(endpoint: &Endpoint, timeouts: &Timeouts) -> Result<PgSession, Error> {
    PgEndpoint::new(&endpoint.url, endpoint.password())?
        .connect(timeouts)
        .await
}

/// Status, phase and two-way detection for one instance. Never fails: what cannot be seen is
/// Unknown, and the note says why.
pub async fn observe(instance: &Instance, timeouts: &Timeouts) -> Observed {
    let mut observed = Observed::declared(instance);
    let mut notes = vec![];
    let mut destination = None;
    let mut destination_unreachable = false;
    if let Some(name) = &instance.subscription {
        match connect(&instance.destination, timeouts).await {
            Err(e) => {
                observed.status = Status::Unknown;
                observed.phase = Phase::Unknown;
                notes.push(format!("cannot read subscription {name}: {e}"));
                destination_unreachable = true;
            }
            Ok(session) => {
                match session.subscription(name).await {
                    Err(e) => {
                        observed.status = Status::Unknown;
                        observed.phase = Phase::Unknown;
                        notes.push(format!("cannot read subscription {name}: {e}"));
                    }
                    Ok(None) => {
                        observed.status = Status::Unknown;
                        observed.phase = Phase::Unknown;
                        notes.push(format!(
                            "the destination database has no subscription named {name}"
                        ));
                    }
                    Ok(Some(sub)) => {
                        let (status, note) = match (sub.enabled, sub.apply_worker_running) {
                            (false, _) => (
                                Status::Paused,
                                format!("subscription {name} is disabled"),
                            ),
                            (true, true) => (
                                Status::Running,
                                format!("subscription {name} is enabled and applying"),
                            ),
                            (true, false) => (
                                Status::Failed,
                                format!(
                                    "subscription {name} is enabled but its apply worker is not running \
                                     ({} error(s) counted); see the destination's server log",
                                    sub.errors
                                ),
                            ),
                        };
                        observed.status = status;
                        notes.push(note);
                        if sub.tables_not_ready > 0 {
                            observed.phase = Phase::FullData;
                            notes.push(format!(
                                "{} of {} table(s) still in their initial copy",
                                sub.tables_not_ready, sub.tables
                            ));
                        } else {
                            observed.phase = Phase::Incremental;
                            notes.push(format!("all {} table(s) synchronized", sub.tables));
                        }
                    }
                }
                destination = Some(session);
            }
        }
    } else if let Some(status) = instance.declared_status {
        notes.push(format!("status {status} declared in the config"));
    } else {
        notes.push(observed.note.clone());
    }

    let both_postgres =
        instance.source.engine.speaks_postgres() && instance.destination.engine.speaks_postgres();
    if both_postgres && !destination_unreachable {
        match detect_two_way(instance, timeouts, destination).await {
            Ok(Some(slot)) => {
                observed.two_way_detected = Some(true);
                observed.two_way_evidence = Some(format!(
                    "the source database also subscribes to the destination (slot {slot})"
                ));
            }
            Ok(None) => observed.two_way_detected = Some(false),
            Err(e) => notes.push(format!("could not check for two-way replication: {e}")),
        }
    }
    observed.note = notes.join("; ");
    observed
}

/// The destination slot a subscription of the source database reads from, if any.
async fn detect_two_way(
    instance: &Instance,
    timeouts: &Timeouts,
    destination: Option<PgSession>,
) -> Result<Option<String>, Error> {
    let destination = match destination {
        Some(session) => session,
        None => connect(&instance.destination, timeouts).await?,
    };
    let source = connect(&instance.source, timeouts).await?;
    let (slots, subscribed) =
        tokio::join!(destination.logical_slots(), source.subscription_slots());
    let (slots, subscribed) = (slots?, subscribed?);
    Ok(subscribed.into_iter().find(|s| slots.contains(s)))
}

/// `observe`, or Unknown when it takes longer than `deadline`.
pub async fn observe_within(
    instance: &Instance,
    timeouts: &Timeouts,
    deadline: Duration,
) -> Observed {
    match tokio::time::timeout(deadline, observe(instance, timeouts)).await {
        Ok(observed) => observed,
        Err(_) => Observed {
            status: Status::Unknown,
            phase: Phase::Unknown,
            two_way_detected: None,
            two_way_evidence: None,
            note: format!("no answer within {}", humantime::format_duration(deadline)),
        },
    }
}

/// Observes many instances at once, `concurrency` at a time, each within `deadline`; one that
/// does not answer in time is Unknown and does not slow the others down.
pub async fn observe_all(
    instances: &[Instance],
    timeouts: &Timeouts,
    concurrency: usize,
    deadline: Duration,
) -> Vec<Observed> {
    let mut results: Vec<(usize, Observed)> = stream::iter(instances.iter().enumerate())
        .map(|(i, instance)| async move { (i, observe_within(instance, timeouts, deadline).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}
