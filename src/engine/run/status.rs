//! How tasks are doing: status and phase for the instance list, the prerequisites gate, and the
//! sequence counts of Basic Information. Every observation has a deadline, whichever front end
//! asks: a silent host makes its own row Unknown, it never holds anything up.

use super::target::{resolve, Target};
use crate::engine::detect::{self, ObserveGate};
use crate::engine::instance::{prerequisites, refusal, Instance, Observed};
use crate::engine::{Error, Timeouts};
use std::time::Duration;

/// How long one instance's status may take, or a DTS list: a connect and a second.
pub(super) fn deadline(timeouts: &Timeouts) -> Duration {
    timeouts.connect + Duration::from_secs(1)
}

/// One instance's status, phase and two-way detection, within the deadline.
pub async fn observe(instance: &Instance, timeouts: &Timeouts) -> Observed {
    detect::observe_within(instance, timeouts, deadline(timeouts)).await
}

/// `observe` through sessions the caller keeps open (a watch's), connecting only for a side it
/// has none on.
pub(super) async fn observe_on(
    instance: &Instance,
    timeouts: &Timeouts,
    open: detect::Open<'_>,
) -> Observed {
    detect::observe_within_on(instance, timeouts, deadline(timeouts), open).await
}

/// Many instances through `gate`, each within the deadline, in their order.
pub async fn observe_all(
    instances: &[Instance],
    timeouts: &Timeouts,
    gate: &ObserveGate,
) -> Vec<Observed> {
    detect::observe_all(instances, timeouts, gate, deadline(timeouts)).await
}

/// One instance through `gate` (its turn among the others, then within the deadline).
pub async fn observe_through(
    gate: &ObserveGate,
    instance: &Instance,
    timeouts: &Timeouts,
) -> Observed {
    gate.observe(instance, timeouts, deadline(timeouts)).await
}

/// Refuses, saying why, unless every prerequisite of Synchronize Sequence holds right now.
pub async fn gate(instance: &Instance, timeouts: &Timeouts) -> Result<Observed, Error> {
    let observed = observe(instance, timeouts).await;
    match refusal(&prerequisites(instance, &observed)) {
        Some(reason) => Err(Error::refused(format!(
            "Synchronize Sequence is not available for instance {}: {reason}",
            instance.id
        ))),
        None => Ok(observed),
    }
}

/// Sequences on each side, for Basic Information, and the guard on the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub source: usize,
    pub destination: usize,
    /// Who holds this instance's guard lock (`seqsync watch --all`), if anyone.
    pub guard: Option<String>,
}

pub async fn count(instance: &Instance, timeouts: &Timeouts) -> Result<Counts, Error> {
    // Counting is quiet: the endpoint warnings are shown when the instance is planned.
    let Target {
        source,
        destination,
        ..
    } = resolve(instance, &|_| {})?;
    let destination_count = async {
        let session = destination.connect(timeouts).await?;
        let count = session.count_sequences().await?;
        // A guard's holder cannot always be seen (pg_stat_activity hides other roles'
        // sessions from a plain role): then no guard is shown rather than an error.
        let guard = session
            .guard_holder(&instance.id)
            .await
            .ok()
            .flatten()
            .map(|h| h.describe());
        Ok::<_, Error>((count, guard))
    };
    let source_count = async {
        source
            .count(timeouts)
            .await
            .map_err(|e| e.context("source"))
    };
    let (source, destination) = tokio::join!(source_count, destination_count);
    let (destination, guard) = destination.map_err(|e| e.context("destination"))?;
    Ok(Counts {
        source: source?,
        destination,
        guard,
    })
}
