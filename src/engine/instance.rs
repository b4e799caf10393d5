//! Instances (synchronization or migration tasks): what they are, how they are doing, and
//! whether Synchronize Sequence may run. The gate is one pure function shared by CLI and TUI.

use super::dts::settings::JobRef;
use super::model::NameCase;
use super::model::{check_pair, Engine};
use super::select::Selection;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

macro_rules! word_enum {
    ($name:ident { $($variant:ident => $word:literal $(| $alias:literal)*),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub fn word(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            pub fn parse(text: &str) -> Result<Self, String> {
                let lowered = text.trim().to_ascii_lowercase().replace('_', "-");
                match lowered.as_str() {
                    $($word $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(format!("'{text}' is not one of: {}", Self::WORDS.join(", "))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}

word_enum!(TaskKind {
    Synchronization => "synchronization" | "sync",
    Migration => "migration",
});

word_enum!(Topology {
    OneWay => "one-way" | "oneway",
    TwoWay => "two-way" | "twoway" | "bidirectional",
});

word_enum!(Status {
    Running => "running",
    Paused => "paused",
    Failed => "failed",
    Finished => "finished",
    NotStarted => "not-started" | "notstarted",
    Unknown => "unknown",
});

word_enum!(Phase {
    SchemaMigration => "schema-migration" | "schema",
    FullData => "full-data" | "full" | "fulldata",
    Incremental => "incremental",
    Unknown => "unknown",
});

word_enum!(Step {
    Schema => "schema",
    FullData => "full-data" | "full",
    Incremental => "incremental",
});

/// One endpoint as configured. The password itself is never stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub engine: Engine,
    /// URL or key=value connection string, as written (may contain a password: show
    /// `secret::mask_password` of it, never the raw string).
    pub url: String,
    /// Oracle user (PostgreSQL endpoints put the user in the URL).
    pub user: Option<String>,
    pub password_env: Option<String>,
    /// Oracle sources: the owners to read (default: the user's schema)…
    pub owners: Vec<String>,
    /// …how their names become destination names…
    pub name_case: NameCase,
    /// …and owner → destination schema.
    pub schema_map: std::collections::BTreeMap<String, String>,
    /// The engine's name as DTS gave it, when seqsync does not support it (`engine` is then
    /// only a placeholder).
    pub engine_label: Option<String>,
    /// Why this endpoint cannot be connected to as it stands (DTS gave no address).
    pub problem: Option<String>,
}

/// Where an endpoint points, in the words an operator checks before a change: the database
/// and the server, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub database: String,
    /// `host:port`, every host of a multi-host string joined by `,`.
    pub server: String,
    pub user: Option<String>,
}

/// Where a connection string leads after libpq's conventions (service file, `PG*` variables,
/// defaults), or None when it does not resolve. Drawn on every frame of Basic Information, so
/// each string is resolved once per process (the environment does not change under it).
fn resolved_place(url: &str) -> Option<Place> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Option<Place>>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(known) = cache.lock().ok()?.get(url) {
        return known.clone();
    }
    let place = super::conninfo::resolve(url, &super::conninfo::Environment::current())
        .ok()
        .map(|settings| Place {
            server: settings
                .hosts
                .iter()
                .map(|h| h.describe())
                .collect::<Vec<_>>()
                .join(","),
            database: settings.dbname,
            user: Some(settings.user),
        });
    if let Ok(mut cache) = cache.lock() {
        // A bound, not a policy: an instance list is far smaller.
        if cache.len() < 10_000 {
            cache.insert(url.to_string(), place.clone());
        }
    }
    place
}

impl Endpoint {
    /// The database and server this PostgreSQL-protocol endpoint names; None for Oracle or a
    /// string that does not parse (it is then shown masked, as written).
    pub fn place(&self) -> Option<Place> {
        if !self.engine.speaks_postgres() || self.url.trim().is_empty() {
            return None;
        }
        resolved_place(self.url.trim())
    }

    pub fn new(engine: Engine, url: &str) -> Endpoint {
        Endpoint {
            engine,
            url: url.to_string(),
            user: None,
            password_env: None,
            owners: vec![],
            name_case: NameCase::Fold,
            schema_map: Default::default(),
            engine_label: None,
            problem: None,
        }
    }

    /// The engine's name to show: seqsync's, or DTS's word for one it does not support.
    pub fn engine_name(&self) -> String {
        self.engine_label
            .clone()
            .unwrap_or_else(|| self.engine.name().to_string())
    }

    /// The password named by `password_env`, if that variable is set.
    pub fn password(&self) -> Option<String> {
        self.password_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub kind: TaskKind,
    pub region: Option<String>,
    pub topology: Topology,
    /// Detect status and phase from this subscription on the destination.
    pub subscription: Option<String>,
    /// Detect status from this replication slot on the source (any logical-decoding CDC).
    pub slot: Option<String>,
    /// For replication seqsync cannot observe.
    pub declared_status: Option<Status>,
    pub declared_phase: Option<Phase>,
    pub steps: Vec<Step>,
    pub source: Endpoint,
    pub destination: Endpoint,
    /// A DTS job: status and phase come from DTS.
    pub dts: Option<JobRef>,
    /// Which sequences runs on this instance set (the config's `include` / `exclude`).
    pub selection: Selection,
}

/// What is known of an instance right now, and how it was learnt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub status: Status,
    pub phase: Phase,
    /// Some(true) when the source was seen subscribing to the destination.
    pub two_way_detected: Option<bool>,
    /// What showed it, when it was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_way_evidence: Option<String>,
    /// Where the status and phase come from, or why they are unknown.
    pub note: String,
    /// How far the CDC consumer is behind, in bytes of WAL, when a slot shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<i64>,
}

impl Observed {
    /// Status and phase as declared in the config, before (or instead of) detection.
    pub fn declared(instance: &Instance) -> Observed {
        let note = match (
            &instance.subscription,
            &instance.slot,
            instance.declared_status,
        ) {
            (Some(sub), _, _) => format!("not yet read from subscription {sub}"),
            (None, Some(slot), _) => format!("not yet read from slot {slot}"),
            (None, None, Some(_)) => "declared in the config".to_string(),
            (None, None, None) => "not observable: name the destination's `subscription` or the \
                                   source's `slot`, or declare `status` and `phase` in the config"
                .to_string(),
        };
        Observed {
            status: instance.declared_status.unwrap_or(Status::Unknown),
            phase: instance.declared_phase.unwrap_or(Phase::Unknown),
            two_way_detected: None,
            two_way_evidence: None,
            note,
            lag_bytes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prerequisite {
    pub name: &'static str,
    pub ok: bool,
    /// What the operator can do about it; empty when ok.
    pub reason: String,
}

/// The console's prerequisites for Synchronize Sequence, each with a sentence to act on.
pub fn prerequisites(instance: &Instance, observed: &Observed) -> Vec<Prerequisite> {
    let check = |name, ok: bool, reason: String| Prerequisite {
        name,
        ok,
        reason: if ok { String::new() } else { reason },
    };
    let labels = (
        &instance.source.engine_label,
        &instance.destination.engine_label,
    );
    let pair = if labels.0.is_some() || labels.1.is_some() {
        Err(format!(
            "unsupported pair {} → {}; supported pairs: {}",
            instance.source.engine_name(),
            instance.destination.engine_name(),
            super::model::supported_pairs_text()
        ))
    } else {
        check_pair(instance.source.engine, instance.destination.engine)
    };
    let addresses: Vec<&str> = [&instance.source.problem, &instance.destination.problem]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let has_incremental = instance.steps.contains(&Step::Incremental);
    let two_way = instance.topology == Topology::TwoWay || observed.two_way_detected == Some(true);
    let phase_ok = observed.phase == Phase::Incremental;
    let status_ok = matches!(observed.status, Status::Running | Status::Paused);
    let mut checks = vec![check(
        "supported pair",
        pair.is_ok(),
        pair.err().unwrap_or_default(),
    )];
    // Only a DTS job can come without an address; a config entry always has its URL.
    if instance.dts.is_some() || !addresses.is_empty() {
        checks.push(check(
            "known addresses",
            addresses.is_empty(),
            addresses.join("; "),
        ));
    }
    checks.extend([
        check(
            "incremental task",
            has_incremental,
            format!(
                "this {} has no incremental step (steps: {}); Synchronize Sequence is for tasks \
                 that keep replicating changes",
                instance.kind,
                instance
                    .steps
                    .iter()
                    .map(|s| s.word())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        check(
            "incremental phase",
            phase_ok,
            match observed.phase {
                Phase::Unknown => format!("the phase is unknown ({})", observed.note),
                phase => format!(
                    "the task is in its {phase} phase; wait for the incremental phase ({})",
                    observed.note
                ),
            },
        ),
        check(
            "running or paused",
            status_ok,
            // The note was given with the phase already when that failed too.
            match (observed.status, phase_ok) {
                (Status::Unknown, true) => format!("the status is unknown ({})", observed.note),
                (Status::Unknown, false) => "the status is unknown".to_string(),
                (status, true) => format!(
                    "the task is {status}; it must be running or paused ({})",
                    observed.note
                ),
                (status, false) => format!("the task is {status}; it must be running or paused"),
            },
        ),
        check(
            "one-way",
            !two_way,
            if instance.topology == Topology::TwoWay {
                let evidence = observed
                    .two_way_evidence
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                format!(
                    "two-way synchronization is not supported: the destination also writes to \
                     the source, so its sequences cannot simply follow{evidence}"
                )
            } else {
                format!(
                    "two-way replication detected: {}",
                    observed
                        .two_way_evidence
                        .as_deref()
                        .unwrap_or("by the source's subscriptions")
                )
            },
        ),
    ]);
    checks
}

/// The first failed prerequisite's sentence, or None when Synchronize Sequence may run.
pub fn refusal(prerequisites: &[Prerequisite]) -> Option<String> {
    let failed: Vec<&str> = prerequisites
        .iter()
        .filter(|p| !p.ok)
        .map(|p| p.reason.as_str())
        .collect();
    if failed.is_empty() {
        None
    } else {
        Some(failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance {
        let endpoint = |engine| Endpoint::new(engine, "postgresql://h/db");
        Instance {
            id: "i".into(),
            name: "i".into(),
            kind: TaskKind::Synchronization,
            region: None,
            topology: Topology::OneWay,
            subscription: None,
            slot: None,
            declared_status: Some(Status::Running),
            declared_phase: Some(Phase::Incremental),
            steps: vec![Step::Schema, Step::FullData, Step::Incremental],
            source: endpoint(Engine::Postgresql),
            destination: endpoint(Engine::PolardbPg),
            dts: None,
            selection: Selection::default(),
        }
    }

    fn failed(instance: &Instance, observed: &Observed) -> Vec<&'static str> {
        prerequisites(instance, observed)
            .into_iter()
            .filter(|p| !p.ok)
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn running_and_paused_incremental_one_way_tasks_pass() {
        let mut i = instance();
        assert!(failed(&i, &Observed::declared(&i)).is_empty());
        i.declared_status = Some(Status::Paused);
        assert!(refusal(&prerequisites(&i, &Observed::declared(&i))).is_none());
    }

    #[test]
    fn each_refusal_names_its_reason() {
        let mut i = instance();
        i.declared_phase = Some(Phase::FullData);
        let o = Observed::declared(&i);
        assert_eq!(failed(&i, &o), vec!["incremental phase"]);
        assert!(refusal(&prerequisites(&i, &o))
            .unwrap()
            .contains("full-data phase"));

        let mut i = instance();
        i.declared_status = Some(Status::Failed);
        assert_eq!(
            failed(&i, &Observed::declared(&i)),
            vec!["running or paused"]
        );

        let mut i = instance();
        i.topology = Topology::TwoWay;
        let reason = refusal(&prerequisites(&i, &Observed::declared(&i))).unwrap();
        assert!(
            reason.contains("two-way synchronization is not supported"),
            "{reason}"
        );

        let i = instance();
        let mut o = Observed::declared(&i);
        o.two_way_detected = Some(true);
        o.two_way_evidence = Some("the source subscribes back".into());
        assert_eq!(failed(&i, &o), vec!["one-way"]);

        let mut i = instance();
        i.kind = TaskKind::Migration;
        i.steps = vec![Step::Schema, Step::FullData];
        let reason = refusal(&prerequisites(&i, &Observed::declared(&i))).unwrap();
        assert!(
            reason.contains("no incremental step (steps: schema, full-data)"),
            "{reason}"
        );

        let mut i = instance();
        i.source.engine = Engine::Oracle;
        i.destination.engine = Engine::Postgresql;
        assert_eq!(failed(&i, &Observed::declared(&i)), vec!["supported pair"]);

        let mut i = instance();
        i.declared_status = None;
        i.declared_phase = None;
        let reason = refusal(&prerequisites(&i, &Observed::declared(&i))).unwrap();
        assert!(
            reason.contains("name the destination's `subscription`"),
            "{reason}"
        );
    }

    #[test]
    fn words_parse_with_aliases_and_say_what_is_expected() {
        assert_eq!(Status::parse("Paused"), Ok(Status::Paused));
        assert_eq!(Phase::parse("full_data"), Ok(Phase::FullData));
        assert_eq!(Topology::parse("two-way"), Ok(Topology::TwoWay));
        let e = Status::parse("stopped").unwrap_err();
        assert!(e.contains("running, paused, failed"), "{e}");
    }
}
