//! A DTS job as `DescribeDtsJobs` and `DescribeDtsJobDetail` return it, and what it means for
//! Synchronize Sequence: the mapping table of the README, in one place.

use crate::engine::instance::{
    Endpoint, Instance, Observed, Phase, Status, Step, TaskKind, Topology,
};
use crate::engine::model::Engine;
use serde::Deserialize;

/// The fields seqsync reads; everything else DTS returns is ignored. Every field may be absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    pub dts_job_id: Option<String>,
    #[serde(rename = "DtsInstanceID")]
    pub dts_instance_id: Option<String>,
    pub dts_job_name: Option<String>,
    pub status: Option<String>,
    pub migration_mode: Option<MigrationMode>,
    pub structure_initialization_status: Option<StepStatus>,
    pub data_initialization_status: Option<StepStatus>,
    pub data_synchronization_status: Option<StepStatus>,
    pub reverse_job: Option<serde_json::Value>,
    pub dts_job_direction: Option<String>,
    pub synchronization_direction: Option<String>,
    pub source_endpoint: Option<JobEndpoint>,
    pub destination_endpoint: Option<JobEndpoint>,
    /// Why this job could not be read (a field of the wrong type): only its id and name are
    /// then known, and it is listed as unknown, saying so.
    #[serde(skip)]
    pub unreadable: Option<String>,
}

/// Longest texts kept from an answer: DTS's own limits are far below (a job name is at most
/// 128 characters in the console); a longer one is cut with an ellipsis, so that a hostile
/// answer cannot make a table or the memory grow with it.
const ID_CHARS: usize = 64;
const NAME_CHARS: usize = 128;
const WORD_CHARS: usize = 64;
const HOST_CHARS: usize = 253;

fn clip(field: &mut Option<String>, max: usize) {
    if let Some(text) = field {
        crate::engine::text::clip(text, max);
    }
}

impl Job {
    /// A job as an answer gives it, every text bounded; when a field does not fit the model,
    /// only its id and name (when they are text) and which field, without its value.
    pub fn from_answer(value: serde_json::Value) -> Job {
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(String::from);
        let (id, name) = (text("DtsJobId"), text("DtsJobName"));
        let mut job = match crate::engine::untrusted::from_value::<Job>(value) {
            Ok(job) => job,
            Err(misfit) => Job {
                dts_job_id: id,
                dts_job_name: name,
                unreadable: Some(format!("in an unexpected shape: {misfit}")),
                ..Job::default()
            },
        };
        job.clip();
        job
    }

    fn clip(&mut self) {
        clip(&mut self.dts_job_id, ID_CHARS);
        clip(&mut self.dts_instance_id, ID_CHARS);
        clip(&mut self.dts_job_name, NAME_CHARS);
        clip(&mut self.status, WORD_CHARS);
        clip(&mut self.dts_job_direction, WORD_CHARS);
        clip(&mut self.synchronization_direction, WORD_CHARS);
        for step in [
            &mut self.structure_initialization_status,
            &mut self.data_initialization_status,
            &mut self.data_synchronization_status,
        ]
        .into_iter()
        .flatten()
        {
            clip(&mut step.status, WORD_CHARS);
        }
        for end in [&mut self.source_endpoint, &mut self.destination_endpoint]
            .into_iter()
            .flatten()
        {
            clip(&mut end.engine_name, WORD_CHARS);
            clip(&mut end.ip, HOST_CHARS);
            clip(&mut end.database_name, NAME_CHARS);
            clip(&mut end.instance_id, ID_CHARS);
            clip(&mut end.instance_type, WORD_CHARS);
            clip(&mut end.oracle_sid, NAME_CHARS);
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MigrationMode {
    pub structure_initialization: Option<bool>,
    pub data_initialization: Option<bool>,
    pub data_synchronization: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StepStatus {
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobEndpoint {
    pub engine_name: Option<String>,
    pub ip: Option<String>,
    /// A string in the published model; a number is accepted too.
    pub port: Option<serde_json::Value>,
    pub database_name: Option<String>,
    #[serde(rename = "InstanceID")]
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    #[serde(rename = "OracleSID")]
    pub oracle_sid: Option<String>,
}

fn is(word: &Option<String>, any: &[&str]) -> bool {
    word.as_deref()
        .is_some_and(|w| any.iter().any(|a| w.trim().eq_ignore_ascii_case(a)))
}

/// The job's `Status` word, compared case-insensitively.
pub fn status(word: Option<&str>) -> Status {
    let word = word.map(str::trim).unwrap_or_default().to_ascii_lowercase();
    match word.as_str() {
        "synchronizing" | "migrating" => Status::Running,
        "suspending" => Status::Paused,
        "failed" | "migrationfailed" | "initializefailed" | "precheckfailed" => Status::Failed,
        "finished" => Status::Finished,
        "notstarted" | "notconfigured" | "prechecking" | "precheckpass" | "initializing" => {
            Status::NotStarted
        }
        _ => Status::Unknown,
    }
}

/// The phase from the steps' own statuses: the incremental step migrating or caught up, else
/// full data migrating, else schema migrating.
pub fn phase(job: &Job) -> Phase {
    let step = |s: &Option<StepStatus>| s.as_ref().and_then(|s| s.status.clone());
    if is(
        &step(&job.data_synchronization_status),
        &["Migrating", "Catched"],
    ) {
        Phase::Incremental
    } else if is(&step(&job.data_initialization_status), &["Migrating"]) {
        Phase::FullData
    } else if is(&step(&job.structure_initialization_status), &["Migrating"]) {
        Phase::SchemaMigration
    } else {
        Phase::Unknown
    }
}

/// The task's steps from `MigrationMode`; without it, the steps whose status DTS reports.
pub fn steps(job: &Job) -> Vec<Step> {
    let (schema, full, incremental) = match &job.migration_mode {
        Some(m) => (
            m.structure_initialization == Some(true),
            m.data_initialization == Some(true),
            m.data_synchronization == Some(true),
        ),
        None => (
            job.structure_initialization_status.is_some(),
            job.data_initialization_status.is_some(),
            job.data_synchronization_status.is_some(),
        ),
    };
    [
        (schema, Step::Schema),
        (full, Step::FullData),
        (incremental, Step::Incremental),
    ]
    .into_iter()
    .filter_map(|(on, step)| on.then_some(step))
    .collect()
}

/// Two-way when DTS reports a reverse job or a direction (it only does for two-way topologies).
pub fn two_way(job: &Job) -> bool {
    verdict(job, false).two_way
}

/// Whether a job is two-way, what showed it, and what the operator must know when the config
/// asserted `topology = "one-way"`.
pub struct Verdict {
    pub two_way: bool,
    pub evidence: Option<String>,
    pub warning: Option<String>,
}

/// DTS's evidence, weighed against the config's assertion: a reverse task is two-way whatever
/// the config says; a direction alone (`Forward`, which the reference documents only for
/// two-way jobs, but which a live service may send on one-way ones) yields to the assertion,
/// with a warning that it is the operator's word against DTS's field.
pub fn verdict(job: &Job, one_way_asserted: bool) -> Verdict {
    let reverse = job
        .reverse_job
        .as_ref()
        .is_some_and(|r| r.as_object().is_some_and(|o| !o.is_empty()));
    let mut evidence = vec![];
    if reverse {
        evidence.push("ReverseJob is present (a reverse task)".to_string());
    }
    for (field, value) in [
        ("DtsJobDirection", &job.dts_job_direction),
        ("SynchronizationDirection", &job.synchronization_direction),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            evidence.push(format!("{field} = {value}"));
        }
    }
    if evidence.is_empty() {
        return Verdict {
            two_way: false,
            evidence: None,
            warning: None,
        };
    }
    let said = evidence.join(", ");
    if one_way_asserted && !reverse {
        return Verdict {
            two_way: false,
            evidence: None,
            warning: Some(format!(
                "one-way because the config asserts topology = \"one-way\", although DTS reports {said}: the operator's assertion, not DTS's (a reverse task would override it)"
            )),
        };
    }
    Verdict {
        two_way: true,
        evidence: Some(format!(
            "DTS reports a two-way synchronization: {said} (DTS sends these only for two-way tasks)"
        )),
        warning: (one_way_asserted && reverse).then(|| {
            "the config asserts topology = \"one-way\", but DTS reports a reverse task: two-way"
                .to_string()
        }),
    }
}

/// DTS's engine names (compared case-insensitively, ignoring `_`, `-` and spaces).
pub fn engine(name: &str) -> Option<Engine> {
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "postgresql" | "postgres" | "pgsql" => Some(Engine::Postgresql),
        "polardbpg" | "polardbpostgresql" | "polardbforpostgresql" => Some(Engine::PolardbPg),
        "polardbo" | "polardboracle" | "polardbfororacle" => Some(Engine::PolardbOracle),
        "oracle" => Some(Engine::Oracle),
        _ => None,
    }
}

/// An endpoint of the job: its engine and address, or why it cannot be used as it stands.
fn endpoint(job_id: &str, side: &str, found: Option<&JobEndpoint>) -> Endpoint {
    let found = found.cloned().unwrap_or_default();
    let engine_name = found.engine_name.clone().unwrap_or_default();
    let mapped = engine(&engine_name);
    let mut endpoint = Endpoint::new(mapped.unwrap_or(Engine::Postgresql), "");
    if mapped.is_none() {
        endpoint.engine_label = Some(if engine_name.is_empty() {
            "unknown".to_string()
        } else {
            engine_name.clone()
        });
    }
    let port = match &found.port {
        Some(serde_json::Value::String(p)) => p.trim().to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let host = found.ip.clone().unwrap_or_default().trim().to_string();
    let database = found.database_name.clone().unwrap_or_default();
    if host.is_empty() || port.parse::<u16>().is_err() {
        let what = match (&found.instance_type, &found.instance_id) {
            (Some(t), Some(i)) => format!(" (a {t} instance, {i})"),
            (None, Some(i)) => format!(" ({i})"),
            _ => String::new(),
        };
        endpoint.problem = Some(format!(
            "DTS gives no host and port for the {side}{what}: set {side}.url in an \
             [[instances]] entry with id = \"{job_id}\""
        ));
        return endpoint;
    }
    // The host goes into a connection string: anything but an address or a host name could
    // add keywords to it (`h?sslmode=disable`), so it is refused, not quoted.
    if !is_host_name(&host) {
        endpoint.problem = Some(format!(
            "DTS gives the {side} a host that is not an address or a host name \
             («{}»): set {side}.url in an [[instances]] entry with id = \"{job_id}\"",
            crate::engine::text::excerpt(&host, 40)
        ));
        return endpoint;
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    endpoint.url = match mapped {
        Some(Engine::Oracle) => {
            let service = found.oracle_sid.clone().unwrap_or(database);
            if !service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '#' | '-'))
            {
                endpoint.problem = Some(format!(
                    "DTS gives the {side} an Oracle service name seqsync cannot use as it \
                     stands: set {side}.url in an [[instances]] entry with id = \"{job_id}\""
                ));
                return endpoint;
            }
            format!("//{host}:{port}/{service}")
        }
        _ => format!(
            "postgresql://{host}:{port}/{}",
            crate::engine::dts::sign::percent_encode(&database)
        ),
    };
    endpoint
}

/// An IPv4 or IPv6 address or a DNS name: letters, digits, `.`, `-`, `_` and (IPv6) `:`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// The instance a job is, and what DTS says of it now.
pub fn instance(
    job: &Job,
    kind: TaskKind,
    region: &str,
    one_way_asserted: bool,
) -> (Instance, Observed) {
    let id = job.dts_job_id.clone().unwrap_or_default();
    let two_way = verdict(job, one_way_asserted).two_way;
    let instance = Instance {
        name: job
            .dts_job_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.clone()),
        kind,
        region: Some(region.to_string()),
        topology: if two_way {
            Topology::TwoWay
        } else {
            Topology::OneWay
        },
        subscription: None,
        slot: None,
        declared_status: None,
        declared_phase: None,
        steps: steps(job),
        source: endpoint(&id, "source", job.source_endpoint.as_ref()),
        destination: endpoint(&id, "destination", job.destination_endpoint.as_ref()),
        dts: None,
        selection: Default::default(),
        id,
    };
    (instance, observed(job, one_way_asserted))
}

/// Status and phase as DTS reports them.
pub fn observed(job: &Job, one_way_asserted: bool) -> Observed {
    if let Some(why) = &job.unreadable {
        return Observed {
            status: Status::Unknown,
            phase: Phase::Unknown,
            two_way_detected: None,
            two_way_evidence: None,
            note: format!("DTS answered this job {why}"),
            lag_bytes: None,
        };
    }
    let raw = job.status.clone().unwrap_or_default();
    let status = status(Some(&raw));
    let step = job
        .data_synchronization_status
        .as_ref()
        .and_then(|s| s.status.clone());
    let mut note = format!(
        "DTS: status {}",
        if raw.is_empty() { "(none)" } else { &raw }
    );
    if status == Status::Unknown && !raw.is_empty() {
        note = format!("DTS: status {raw} (not a status seqsync knows)");
    }
    if let Some(step) = step {
        note.push_str(&format!(", incremental step {step}"));
    }
    let verdict = verdict(job, one_way_asserted);
    if let Some(warning) = &verdict.warning {
        note.push_str(&format!("; warning: {warning}"));
    }
    Observed {
        status,
        phase: phase(job),
        two_way_detected: Some(verdict.two_way),
        two_way_evidence: verdict.evidence,
        note,
        lag_bytes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(json: serde_json::Value) -> Job {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_status_word_of_the_table() {
        for (word, expected) in [
            ("Synchronizing", Status::Running),
            ("MIGRATING", Status::Running),
            ("Suspending", Status::Paused),
            ("Failed", Status::Failed),
            ("MigrationFailed", Status::Failed),
            ("InitializeFailed", Status::Failed),
            ("PrecheckFailed", Status::Failed),
            ("finished", Status::Finished),
            ("NotStarted", Status::NotStarted),
            ("NotConfigured", Status::NotStarted),
            ("Prechecking", Status::NotStarted),
            ("PreCheckPass", Status::NotStarted),
            ("Initializing", Status::NotStarted),
            ("Retrying", Status::Unknown),
        ] {
            assert_eq!(status(Some(word)), expected, "{word}");
        }
        let o = observed(&job(serde_json::json!({"Status": "Locked"})), false);
        assert!(o.note.contains("status Locked (not a status"), "{}", o.note);
    }

    #[test]
    fn phase_steps_and_direction() {
        let j = job(serde_json::json!({
            "DataSynchronizationStatus": {"Status": "Catched"},
            "MigrationMode": {"StructureInitialization": true, "DataInitialization": true, "DataSynchronization": false}
        }));
        assert_eq!(phase(&j), Phase::Incremental);
        assert_eq!(steps(&j), vec![Step::Schema, Step::FullData]);
        let j = job(serde_json::json!({
            "DataInitializationStatus": {"Status": "Migrating"},
            "DataSynchronizationStatus": {"Status": "NotStarted"}
        }));
        assert_eq!(phase(&j), Phase::FullData);
        assert!(!two_way(&j));
        assert!(two_way(&job(
            serde_json::json!({"ReverseJob": {"DtsJobId": "r"}})
        )));
        assert!(two_way(&job(
            serde_json::json!({"DtsJobDirection": "Forward"})
        )));
        assert!(!two_way(&job(serde_json::json!({"ReverseJob": {}}))));
        let forward = job(serde_json::json!({"DtsJobDirection": "Forward"}));
        let said = verdict(&forward, false);
        assert!(said.two_way && said.evidence.unwrap().contains("DtsJobDirection = Forward"));
        // The operator's assertion wins over a direction alone, and says so.
        let asserted = verdict(&forward, true);
        assert!(
            !asserted.two_way
                && asserted
                    .warning
                    .unwrap()
                    .contains("DtsJobDirection = Forward")
        );
        // A reverse task wins over the assertion.
        let reverse =
            job(serde_json::json!({"ReverseJob": {"DtsJobId": "r"}, "DtsJobDirection": "Forward"}));
        let weighed = verdict(&reverse, true);
        assert!(weighed.two_way && weighed.warning.unwrap().contains("reverse task"));
    }

    #[test]
    fn a_job_that_does_not_fit_keeps_its_id_and_says_which_field() {
        let j = Job::from_answer(serde_json::json!({
            "DtsJobId": "dtsj-bad", "DtsJobName": "bad one", "Status": 42
        }));
        assert_eq!(j.dts_job_id.as_deref(), Some("dtsj-bad"));
        let o = observed(&j, false);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.note.contains("Status: expected a string"), "{}", o.note);
        assert!(!o.note.contains("42"), "{}", o.note);
    }

    #[test]
    fn texts_are_bounded_and_a_host_cannot_add_keywords() {
        let j = Job::from_answer(serde_json::json!({
            "DtsJobId": "dtsj-long", "DtsJobName": "n".repeat(10_000),
            "SourceEndpoint": {"EngineName": "PostgreSQL", "Ip": "db?sslmode=disable", "Port": "5432"},
            "DestinationEndpoint": {"EngineName": "PostgreSQL", "Ip": "fe80::1", "Port": 5432, "DatabaseName": "d"}
        }));
        let name = j.dts_job_name.clone().unwrap();
        assert_eq!(name.chars().count(), NAME_CHARS);
        assert!(name.ends_with('…'));
        let (i, _) = instance(&j, TaskKind::Synchronization, "r", false);
        assert!(
            i.source
                .problem
                .as_deref()
                .unwrap()
                .contains("not an address"),
            "{:?}",
            i.source
        );
        assert!(i.source.url.is_empty());
        assert_eq!(i.destination.url, "postgresql://[fe80::1]:5432/d");
    }

    #[test]
    fn endpoints_from_the_job_or_why_not() {
        let j = job(serde_json::json!({
            "DtsJobId": "dtsj1",
            "SourceEndpoint": {"EngineName": "POSTGRESQL", "Ip": "10.0.0.1", "Port": "5432", "DatabaseName": "shop db"},
            "DestinationEndpoint": {"EngineName": "MySQL", "InstanceID": "rm-1", "InstanceType": "RDS"}
        }));
        let (i, _) = instance(&j, TaskKind::Synchronization, "cn-hangzhou", false);
        assert_eq!(i.source.engine, Engine::Postgresql);
        assert_eq!(i.source.url, "postgresql://10.0.0.1:5432/shop%20db");
        assert_eq!(i.destination.engine_label.as_deref(), Some("MySQL"));
        let problem = i.destination.problem.unwrap();
        assert!(problem.contains("(a RDS instance, rm-1)"), "{problem}");
        assert_eq!(engine("PolarDB_PG"), Some(Engine::PolardbPg));
        assert_eq!(engine("polardb-o"), Some(Engine::PolardbOracle));
    }
}
