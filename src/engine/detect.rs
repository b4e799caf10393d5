//! Live status and phase of instances replicated by PostgreSQL logical replication, read from
//! the destination's subscription or from the replication slot a CDC tool reads on the source,
//! and two-way replication seen from the source.

use super::instance::{Endpoint, Instance, Observed, Phase, Status};
use super::postgres::{PgEndpoint, PgSession, SlotState};
use super::{Error, Timeouts};
use futures_util::stream::{FuturesUnordered, Stream};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

async fn connect(endpoint: &Endpoint, timeouts: &Timeouts) -> Result<PgSession, Error> {
    PgEndpoint::new(&endpoint.url, endpoint.password())?
        .connect(timeouts)
        .await
}

/// Sessions a caller already holds on an instance's sides (a watch keeps them between
/// rounds): the observation reads through them instead of connecting again.
#[derive(Default, Clone, Copy)]
pub struct Open<'a> {
    pub source: Option<&'a PgSession>,
    pub destination: Option<&'a PgSession>,
}

/// A session for one observation: one the caller holds, or one opened for it.
enum Side<'a> {
    Held(&'a PgSession),
    Opened(Box<PgSession>),
}

impl std::ops::Deref for Side<'_> {
    type Target = PgSession;
    fn deref(&self) -> &PgSession {
        match self {
            Side::Held(session) => session,
            Side::Opened(session) => session,
        }
    }
}

async fn side<'a>(
    held: Option<&'a PgSession>,
    endpoint: &Endpoint,
    timeouts: &Timeouts,
) -> Result<Side<'a>, Error> {
    match held.filter(|s| s.is_open()) {
        Some(session) => Ok(Side::Held(session)),
        None => connect(endpoint, timeouts)
            .await
            .map(|s| Side::Opened(Box::new(s))),
    }
}

/// Status, phase and two-way detection for one instance. Never fails: what cannot be seen is
/// Unknown, and the note says why.
pub async fn observe(instance: &Instance, timeouts: &Timeouts) -> Observed {
    observe_on(instance, timeouts, Open::default()).await
}

/// `observe`, reading through the sessions in `open` where it has them.
pub async fn observe_on(instance: &Instance, timeouts: &Timeouts, open: Open<'_>) -> Observed {
    if let Some(job) = &instance.dts {
        // DTS knows its task's status, phase and direction; nothing to add from the databases.
        // `observe_within` bounds it like any other observation.
        return super::dts::observe(instance, job, timeouts).await;
    }
    let mut observed = Observed::declared(instance);
    let mut notes = vec![];
    let mut destination = None;
    let mut destination_unreachable = false;
    if let Some(name) = &instance.subscription {
        match side(open.destination, &instance.destination, timeouts).await {
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
                        // Dropping the subscription is how logical replication ends.
                        observed.status = Status::Finished;
                        observed.phase = Phase::Unknown;
                        notes.push(format!(
                            "the destination database has no subscription named {name}: it was \
                             dropped when the task ended, or the config misnames it"
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
    } else if let Some(name) = &instance.slot {
        let read = match side(open.source, &instance.source, timeouts).await {
            Ok(session) => session.slot(name).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(slot) => {
                let (status, note) = slot_status(name, slot.as_ref());
                observed.status = status;
                observed.lag_bytes = slot.and_then(|s| s.lag_bytes);
                notes.push(note);
            }
            Err(e) => {
                observed.status = Status::Unknown;
                notes.push(format!("cannot read slot {name} on the source: {e}"));
            }
        }
        if let Some(phase) = instance.declared_phase {
            notes.push(format!("phase {phase} declared in the config"));
        }
    } else if let Some(status) = instance.declared_status {
        notes.push(format!("status {status} declared in the config"));
    } else {
        notes.push(observed.note.clone());
    }

    let both_postgres =
        instance.source.engine.speaks_postgres() && instance.destination.engine.speaks_postgres();
    if both_postgres && !destination_unreachable {
        match detect_two_way(instance, timeouts, destination, open).await {
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

/// What a replication slot says of the CDC task that reads it: a consumer streaming from it is
/// running, a slot nobody reads is paused, and a slot that is gone or has lost its WAL is failed
/// (the task cannot resume from it).
pub fn slot_status(name: &str, slot: Option<&SlotState>) -> (Status, String) {
    let Some(slot) = slot else {
        return (
            Status::Failed,
            format!(
                "the source has no replication slot named {name}: it was dropped (or never \
                 created), so the CDC task reading it cannot resume"
            ),
        );
    };
    let behind = slot
        .lag_bytes
        .map(|b| format!(", {} behind", bytes(b)))
        .unwrap_or_default();
    if slot.wal_status.as_deref() == Some("lost") || slot.invalidated.is_some() {
        let why = slot
            .invalidated
            .clone()
            .unwrap_or_else(|| "the WAL it needs was removed".to_string());
        return (
            Status::Failed,
            format!("replication slot {name} is invalidated ({why}): its consumer cannot resume"),
        );
    }
    match (slot.active, slot.active_pid) {
        (true, pid) => {
            let who = match (&slot.consumer, pid) {
                (Some(app), Some(pid)) => format!("{app} (pid {pid})"),
                (None, Some(pid)) => format!("pid {pid}"),
                (_, None) => "a consumer".to_string(),
            };
            (
                Status::Running,
                format!("replication slot {name} is being read by {who}{behind}"),
            )
        }
        (false, _) => (
            Status::Paused,
            format!("replication slot {name} exists but no consumer is reading it{behind}"),
        ),
    }
}

fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The destination slot a subscription of the source database reads from, if any.
async fn detect_two_way(
    instance: &Instance,
    timeouts: &Timeouts,
    destination: Option<Side<'_>>,
    open: Open<'_>,
) -> Result<Option<String>, Error> {
    let destination = match destination {
        Some(session) => session,
        None => side(open.destination, &instance.destination, timeouts).await?,
    };
    let source = side(open.source, &instance.source, timeouts).await?;
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
    observe_within_on(instance, timeouts, deadline, Open::default()).await
}

/// `observe_within`, reading through the sessions in `open` where it has them.
pub async fn observe_within_on(
    instance: &Instance,
    timeouts: &Timeouts,
    deadline: Duration,
    open: Open<'_>,
) -> Observed {
    match tokio::time::timeout(deadline, observe_on(instance, timeouts, open)).await {
        Ok(observed) => observed,
        Err(_) => Observed {
            status: Status::Unknown,
            phase: Phase::Unknown,
            two_way_detected: None,
            two_way_evidence: None,
            lag_bytes: None,
            note: format!("no answer within {}", humantime::format_duration(deadline)),
        },
    }
}

/// Observations under way at once. Each holds at most two connections, so 256 stay well inside
/// the usual 1,024 open files, and 5,000 silent hosts are 20 waves of one deadline, not 157.
pub const OBSERVE_AT_ONCE: usize = 256;
/// …and at most this many on one server: instances often share a cluster (one per database),
/// and a burst past its `max_connections` would make them all unknown ("too many clients").
pub const OBSERVE_PER_SERVER: usize = 16;

/// Where observations wait their turn: a number at once in all, and per server.
#[derive(Clone)]
pub struct ObserveGate {
    all: Arc<Semaphore>,
    per_server: usize,
    servers: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl std::fmt::Debug for ObserveGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveGate")
            .field("available", &self.all.available_permits())
            .field("per_server", &self.per_server)
            .finish()
    }
}

impl Default for ObserveGate {
    fn default() -> Self {
        ObserveGate::new(OBSERVE_AT_ONCE, OBSERVE_PER_SERVER)
    }
}

impl ObserveGate {
    pub fn new(at_once: usize, per_server: usize) -> ObserveGate {
        ObserveGate {
            all: Arc::new(Semaphore::new(at_once.max(1))),
            per_server: per_server.max(1),
            servers: Arc::default(),
        }
    }

    fn server(&self, key: &str) -> Arc<Semaphore> {
        let mut servers = self.servers.lock().expect("observe gate");
        servers
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_server)))
            .clone()
    }

    /// One instance observed when its servers and the whole allow, within `deadline` from then.
    pub async fn observe(
        &self,
        instance: &Instance,
        timeouts: &Timeouts,
        deadline: Duration,
    ) -> Observed {
        // Always taken in the same order (servers sorted, the whole last), so two instances
        // that share servers never wait on each other.
        let mut permits = Vec::new();
        for key in servers_of(instance) {
            permits.push(self.server(&key).acquire_owned().await);
        }
        let _all = self.all.acquire().await;
        observe_within(instance, timeouts, deadline).await
    }
}

/// The servers observing `instance` may connect to, as `host:port` lists, sorted; a string
/// that does not parse is its own key (it will fail on its own, alone).
fn servers_of(instance: &Instance) -> Vec<String> {
    if instance.dts.is_some() {
        return vec![];
    }
    let mut keys: Vec<String> = [&instance.source, &instance.destination]
        .into_iter()
        .filter(|e| e.engine.speaks_postgres() && e.problem.is_none())
        .map(|e| e.place().map_or_else(|| e.url.clone(), |p| p.server))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Every instance observed through `gate`, each within `deadline`, yielded as it is known
/// (its index and what was seen): a silent host holds up only its own row.
pub fn observe_each<'a>(
    instances: &'a [Instance],
    timeouts: &'a Timeouts,
    gate: &'a ObserveGate,
    deadline: Duration,
) -> impl Stream<Item = (usize, Observed)> + 'a {
    instances
        .iter()
        .enumerate()
        .map(|(i, instance)| async move { (i, gate.observe(instance, timeouts, deadline).await) })
        .collect::<FuturesUnordered<_>>()
}

/// Observes many instances at once, each within `deadline`, in their order; one that does not
/// answer in time is Unknown and does not slow the others down.
pub async fn observe_all(
    instances: &[Instance],
    timeouts: &Timeouts,
    gate: &ObserveGate,
    deadline: Duration,
) -> Vec<Observed> {
    let mut results: Vec<(usize, Observed)> = observe_each(instances, timeouts, gate, deadline)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> SlotState {
        SlotState {
            active: true,
            active_pid: Some(42),
            wal_status: Some("reserved".into()),
            invalidated: None,
            lag_bytes: Some(3 * 1024 * 1024),
            consumer: Some("debezium".into()),
        }
    }

    #[test]
    fn a_server_is_its_hosts_and_ports_whatever_the_database() {
        let key = |url: &str| {
            let e = Endpoint::new(crate::engine::model::Engine::Postgresql, url);
            e.place().map_or_else(|| e.url.clone(), |p| p.server)
        };
        assert_eq!(
            key("postgresql://u:pw@db.example:6432/one"),
            key("host=db.example port=6432 dbname=two user=v")
        );
        assert_eq!(key("postgresql://a,b:5433/x"), "a:5432,b:5433");
        assert_ne!(key("postgresql://h:1/x"), key("postgresql://h:2/x"));
        assert_eq!(key("not a url ="), "not a url =");
    }

    #[tokio::test]
    async fn the_gate_holds_a_server_to_its_share() {
        let gate = ObserveGate::new(10, 2);
        let one = gate.server("h:1");
        let _a = one.clone().acquire_owned().await.unwrap();
        let _b = one.clone().acquire_owned().await.unwrap();
        assert_eq!(gate.server("h:1").available_permits(), 0);
        assert_eq!(
            gate.server("h:2").available_permits(),
            2,
            "another server is free"
        );
    }

    #[test]
    fn a_slot_says_running_paused_or_failed() {
        let (status, note) = slot_status("cdc", Some(&slot()));
        assert_eq!(status, Status::Running);
        assert!(note.contains("debezium (pid 42), 3.0 MiB behind"), "{note}");

        let idle = SlotState {
            active: false,
            active_pid: None,
            consumer: None,
            lag_bytes: Some(10),
            ..slot()
        };
        let (status, note) = slot_status("cdc", Some(&idle));
        assert_eq!(status, Status::Paused);
        assert!(
            note.contains("no consumer is reading it, 10 bytes behind"),
            "{note}"
        );

        let lost = SlotState {
            wal_status: Some("lost".into()),
            ..slot()
        };
        assert_eq!(slot_status("cdc", Some(&lost)).0, Status::Failed);
        let invalidated = SlotState {
            wal_status: None,
            invalidated: Some("rows_removed".into()),
            ..slot()
        };
        let (status, note) = slot_status("cdc", Some(&invalidated));
        assert_eq!(status, Status::Failed);
        assert!(note.contains("rows_removed"), "{note}");

        let (status, note) = slot_status("cdc", None);
        assert_eq!(status, Status::Failed);
        assert!(note.contains("no replication slot named cdc"), "{note}");
    }
}
