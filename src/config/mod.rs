//! Settings from a TOML file (the `config` crate) and `SEQSYNC_…__…` environment overrides,
//! validated into errors that name the file, the instance and the key.

use crate::engine::dts::{DtsSettings, EndpointOverlay, Overlay, DEFAULT_ENDPOINT};
use crate::engine::instance::{Endpoint, Instance, Phase, Status, Step, TaskKind, Topology};
use crate::engine::model::{check_pair, Engine};
use crate::engine::offset::Offset;
use crate::engine::run::InstanceWatch;
use crate::engine::select::Selection;
use crate::engine::Timeouts;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    instances: Vec<RawInstance>,
    dts: Option<RawDts>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDts {
    #[serde(default)]
    regions: Vec<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    sts_endpoint: Option<String>,
    metadata_endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    offset: Option<i64>,
    connect_timeout: Option<String>,
    statement_timeout: Option<String>,
    lock_timeout: Option<String>,
    /// Time between Keep Sequences Ahead rounds.
    watch_interval: Option<String>,
    journal: Option<PathBuf>,
    /// Where the journal rolls over to an archive: "16MiB", "512KiB", or bytes.
    journal_rotate_at: Option<String>,
    /// Archives kept beside the journal.
    journal_archives: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    id: String,
    name: Option<String>,
    kind: Option<String>,
    region: Option<String>,
    topology: Option<String>,
    subscription: Option<String>,
    slot: Option<String>,
    status: Option<String>,
    phase: Option<String>,
    steps: Option<Vec<String>>,
    /// What `watch --all` uses for this instance instead of the command line's defaults.
    offset: Option<i64>,
    horizon: Option<String>,
    interval: Option<String>,
    /// Globs on `schema.name`: only matching sequences are set.
    #[serde(default)]
    include: Vec<String>,
    /// Globs on `schema.name`: matching sequences are left out.
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    source: RawEndpoint,
    #[serde(default)]
    destination: RawEndpoint,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    engine: Option<String>,
    url: Option<String>,
    sslmode: Option<String>,
    user: Option<String>,
    password_env: Option<String>,
    owners: Option<Vec<String>>,
    name_case: Option<String>,
    schema_map: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub offset: Option<Offset>,
    pub timeouts: Timeouts,
    /// Time between Keep Sequences Ahead rounds (`seqsync watch`, the TUI's `w`).
    pub watch_interval: Duration,
    pub journal: Option<PathBuf>,
    /// Where the journal rolls over, and how many archives it keeps.
    pub journal_rotate_at: u64,
    pub journal_archives: usize,
    pub instances: Vec<Instance>,
    /// Alibaba Cloud DTS as a source of instances, when `[dts]` is configured.
    pub dts: Option<DtsSettings>,
    /// What each `[[instances]]` entry adds to a DTS job with the same id.
    pub overlays: Vec<Overlay>,
    /// Instances whose entry sets its own `offset`, `horizon` or `interval` (`watch --all`).
    pub watch: HashMap<String, InstanceWatch>,
}

impl Settings {
    pub fn instance(&self, id: &str) -> Result<&Instance, String> {
        self.instances.iter().find(|i| i.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.instances.iter().map(|i| i.id.as_str()).collect();
            match &self.file {
                None => format!(
                    "no instance '{id}': no config file was found (looked in {}); write \
                     one with `seqsync example-config > seqsync.toml`, or use --source and \
                     --destination",
                    search_paths_text()
                ),
                Some(f) if known.is_empty() => {
                    format!(
                        "no instance '{id}' in {}: it defines no instances",
                        f.display()
                    )
                }
                Some(f) => format!(
                    "no instance '{id}' in {}; known instances: {}",
                    f.display(),
                    known.join(", ")
                ),
            }
        })
    }
}

/// Where a config file is looked for, in order, when `--config` is not given.
pub fn search_paths() -> Vec<PathBuf> {
    let mut paths = vec![];
    if let Some(p) = std::env::var_os("SEQSYNC_CONFIG") {
        paths.push(PathBuf::from(p));
    }
    paths.push(PathBuf::from("seqsync.toml"));
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(home) = config_home {
        paths.push(home.join("seqsync").join("config.toml"));
    }
    paths
}

pub fn search_paths_text() -> String {
    search_paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads settings: the explicit file (which must exist), else the first file found on the search
/// path, else none; then `SEQSYNC_<SECTION>__<KEY>` environment overrides.
pub fn load(explicit: Option<&Path>) -> Result<Settings, String> {
    load_with_env(explicit, env_overrides())
}

fn load_with_env(
    explicit: Option<&Path>,
    env: HashMap<String, String>,
) -> Result<Settings, String> {
    let file = match explicit {
        Some(p) if !p.is_file() => {
            return Err(format!("config file {} does not exist", p.display()))
        }
        Some(p) => Some(p.to_path_buf()),
        None => search_paths().into_iter().find(|p| p.is_file()),
    };
    let mut builder = config::Config::builder();
    if let Some(f) = &file {
        builder =
            builder.add_source(config::File::from(f.as_path()).format(config::FileFormat::Toml));
    }
    builder = builder.add_source(
        config::Environment::with_prefix("SEQSYNC")
            .prefix_separator("_")
            .separator("__")
            .source(Some(env)),
    );
    let where_ = file
        .as_ref()
        .map_or("the environment".to_string(), |f| f.display().to_string());
    let raw: RawConfig = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| format!("config error in {where_}: {e}"))?;
    validate(raw, file)
}

/// Only `SEQSYNC_X__Y` variables are config keys; `SEQSYNC_CONFIG` and friends are not.
fn env_overrides() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("SEQSYNC_") && k.contains("__"))
        .collect()
}

fn parse_duration(
    value: &Option<String>,
    key: &str,
    default: Duration,
) -> Result<Duration, String> {
    Ok(parse_duration_of(value, &format!("[defaults] {key}"))?.unwrap_or(default))
}

/// A duration above zero, `key` naming where it was given.
fn parse_duration_of(value: &Option<String>, key: &str) -> Result<Option<Duration>, String> {
    match value {
        None => Ok(None),
        Some(text) => match humantime::parse_duration(text.trim()) {
            // PostgreSQL reads 0 as "no limit": a zero here would let a statement wait forever.
            Ok(d) if d.is_zero() => Err(format!(
                "{key} = \"{text}\": must be more than zero, such as \"5s\""
            )),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(format!(
                "{key} = \"{text}\": {e}; expected a duration such as \"5s\" or \"500ms\""
            )),
        },
    }
}

/// An instance's own `offset`, `horizon` and `interval` for `watch --all`.
fn instance_watch(inst: &RawInstance) -> Result<InstanceWatch, String> {
    Ok(InstanceWatch {
        offset: inst
            .offset
            .map(Offset::new)
            .transpose()
            .map_err(|e| format!("offset: {e}"))?,
        horizon: parse_duration_of(&inst.horizon, "horizon")?,
        interval: parse_duration_of(&inst.interval, "interval")?,
    })
}

/// A size such as "16MiB", "512 KiB", "1GiB" or "65536" (bytes); at least 64 KiB, so that a
/// typo does not roll the journal over at every run.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "kB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit '{other}'; expected a size such as \"16MiB\" or \"512KiB\""
            ))
        }
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| "expected a size such as \"16MiB\" or \"512KiB\"".to_string())?;
    if bytes < 64 << 10 {
        return Err("must be at least 64KiB".to_string());
    }
    Ok(bytes)
}

fn validate(raw: RawConfig, file: Option<PathBuf>) -> Result<Settings, String> {
    let where_ = file
        .as_ref()
        .map_or("the environment".to_string(), |f| f.display().to_string());
    let in_file = |msg: String| format!("config error in {where_}: {msg}");
    let defaults = Timeouts::default();
    let timeouts = Timeouts {
        connect: parse_duration(
            &raw.defaults.connect_timeout,
            "connect_timeout",
            defaults.connect,
        )
        .map_err(in_file)?,
        statement: parse_duration(
            &raw.defaults.statement_timeout,
            "statement_timeout",
            defaults.statement,
        )
        .map_err(in_file)?,
        lock: parse_duration(&raw.defaults.lock_timeout, "lock_timeout", defaults.lock)
            .map_err(in_file)?,
    };
    let watch_interval = parse_duration(
        &raw.defaults.watch_interval,
        "watch_interval",
        crate::engine::run::DEFAULT_INTERVAL,
    )
    .map_err(in_file)?;
    let journal_rotate_at = match &raw.defaults.journal_rotate_at {
        None => crate::engine::journal::DEFAULT_ROTATE_AT,
        Some(text) => parse_size(text)
            .map_err(|e| in_file(format!("[defaults] journal_rotate_at = \"{text}\": {e}")))?,
    };
    let offset = raw
        .defaults
        .offset
        .map(Offset::new)
        .transpose()
        .map_err(|e| in_file(format!("[defaults] offset: {e}")))?;
    let dts = raw
        .dts
        .as_ref()
        .map(dts_settings)
        .transpose()
        .map_err(in_file)?;
    let mut overlays = vec![];
    let mut watch = HashMap::new();
    let mut seen = HashSet::new();
    let mut instances = vec![];
    for (n, inst) in raw.instances.into_iter().enumerate() {
        let label = if inst.id.trim().is_empty() {
            format!("instance #{}", n + 1)
        } else {
            format!("instance '{}'", inst.id)
        };
        if inst.id.trim().is_empty() {
            return Err(in_file(format!("{label}: id must not be empty")));
        }
        if !seen.insert(inst.id.clone()) {
            return Err(in_file(format!(
                "{label}: id is used by another instance; ids must be unique"
            )));
        }
        let overlay = overlay(&inst).map_err(|e| in_file(format!("{label}: {e}")))?;
        let own = instance_watch(&inst).map_err(|e| in_file(format!("{label}: {e}")))?;
        if own != InstanceWatch::default() {
            watch.insert(inst.id.clone(), own);
        }
        let complete = [&inst.source, &inst.destination]
            .iter()
            .all(|e| e.engine.is_some() && e.url.is_some());
        let selection = overlay.selection.clone();
        overlays.push(overlay);
        if dts.is_some() && !complete {
            // Only completes a DTS job with this id.
            continue;
        }
        let source =
            endpoint(&inst.source, "source").map_err(|e| in_file(format!("{label}: {e}")))?;
        let destination = endpoint(&inst.destination, "destination")
            .map_err(|e| in_file(format!("{label}: {e}")))?;
        check_pair(source.engine, destination.engine)
            .map_err(|e| in_file(format!("{label}: {e}")))?;
        let word = |key: &str, e: String| in_file(format!("{label}: {key}: {e}"));
        let kind = inst
            .kind
            .as_deref()
            .map(TaskKind::parse)
            .transpose()
            .map_err(|e| word("kind", e))?
            .unwrap_or(TaskKind::Synchronization);
        let topology = inst
            .topology
            .as_deref()
            .map(Topology::parse)
            .transpose()
            .map_err(|e| word("topology", e))?
            .unwrap_or(Topology::OneWay);
        let declared_status = inst
            .status
            .as_deref()
            .map(Status::parse)
            .transpose()
            .map_err(|e| word("status", e))?;
        let declared_phase = inst
            .phase
            .as_deref()
            .map(Phase::parse)
            .transpose()
            .map_err(|e| word("phase", e))?;
        let steps = match &inst.steps {
            None => vec![Step::Schema, Step::FullData, Step::Incremental],
            Some(words) => words
                .iter()
                .map(|w| Step::parse(w))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| word("steps", e))?,
        };
        if let Some(sub) = inst.subscription.as_deref().filter(|s| s.trim().is_empty()) {
            return Err(word("subscription", format!("'{sub}' is empty")));
        }
        if let Some(slot) = &inst.slot {
            if slot.trim().is_empty() {
                return Err(word("slot", format!("'{slot}' is empty")));
            }
            if !source.engine.speaks_postgres() {
                return Err(word(
                    "slot",
                    format!(
                        "a replication slot is read on a PostgreSQL-protocol source; this source is {}",
                        source.engine
                    ),
                ));
            }
        }
        instances.push(Instance {
            name: inst.name.unwrap_or_else(|| inst.id.clone()),
            id: inst.id,
            kind,
            region: inst.region,
            topology,
            subscription: inst.subscription,
            slot: inst.slot,
            declared_status,
            declared_phase,
            steps,
            source,
            destination,
            dts: None,
            selection,
        });
    }
    Ok(Settings {
        file,
        offset,
        timeouts,
        watch_interval,
        journal: raw.defaults.journal,
        journal_rotate_at,
        journal_archives: raw
            .defaults
            .journal_archives
            .unwrap_or(crate::engine::journal::DEFAULT_KEEP_ARCHIVES),
        instances,
        dts,
        overlays,
        watch,
    })
}

fn dts_settings(raw: &RawDts) -> Result<DtsSettings, String> {
    let regions: Vec<String> = raw.regions.iter().map(|r| r.trim().to_string()).collect();
    if regions.is_empty() || regions.iter().any(String::is_empty) {
        return Err("[dts] regions: name at least one region, such as [\"cn-hangzhou\"]".into());
    }
    let endpoint = raw
        .endpoint
        .clone()
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let url =
        |key: &str, value: &Option<String>, example: &str| -> Result<Option<String>, String> {
            match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                    Ok(Some(v.to_string()))
                }
                Some(v) => Err(format!(
                    "[dts] {key} = \"{v}\": expected a URL such as {example}"
                )),
            }
        };
    url("endpoint", &Some(endpoint.clone()), DEFAULT_ENDPOINT)?;
    Ok(DtsSettings {
        regions,
        endpoint,
        profile: raw.profile.clone().filter(|p| !p.trim().is_empty()),
        sts_endpoint: url(
            "sts_endpoint",
            &raw.sts_endpoint,
            "https://sts.aliyuncs.com",
        )?,
        metadata_endpoint: url(
            "metadata_endpoint",
            &raw.metadata_endpoint,
            "http://100.100.100.200",
        )?,
    })
}

fn overlay(inst: &RawInstance) -> Result<Overlay, String> {
    let side = |raw: &RawEndpoint, side: &str| -> Result<EndpointOverlay, String> {
        Ok(EndpointOverlay {
            engine: raw
                .engine
                .as_deref()
                .map(Engine::parse)
                .transpose()
                .map_err(|e| format!("{side}.engine: {e}"))?,
            url: raw.url.clone().filter(|u| !u.trim().is_empty()),
            user: raw.user.clone(),
            password_env: raw.password_env.clone(),
            sslmode: raw.sslmode.clone(),
            owners: raw.owners.clone(),
            name_case: raw
                .name_case
                .as_deref()
                .map(crate::engine::model::NameCase::parse)
                .transpose()
                .map_err(|e| format!("{side}.name_case: {e}"))?,
            schema_map: raw.schema_map.clone(),
        })
    };
    Ok(Overlay {
        id: inst.id.clone(),
        name: inst.name.clone(),
        slot: inst.slot.clone(),
        subscription: inst.subscription.clone(),
        source: side(&inst.source, "source")?,
        destination: side(&inst.destination, "destination")?,
        selection: Selection::new(inst.include.clone(), inst.exclude.clone())?,
        topology: inst
            .topology
            .as_deref()
            .map(Topology::parse)
            .transpose()
            .map_err(|e| format!("topology: {e}"))?,
    })
}

fn endpoint(raw: &RawEndpoint, side: &str) -> Result<Endpoint, String> {
    let engine = Engine::parse(raw.engine.as_deref().ok_or_else(|| {
        format!(
            "{side}.engine is missing; expected one of {}",
            crate::engine::model::ENGINE_NAMES
        )
    })?)
    .map_err(|e| format!("{side}.engine: {e}"))?;
    if raw.sslmode.is_some() {
        return Err(format!(
            "{side}.sslmode completes a DTS job's address; here put sslmode in {side}.url"
        ));
    }
    let url = raw
        .url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            format!("{side}.url is missing; expected e.g. postgresql://user@host:5432/dbname")
        })?;
    let oracle_only = raw.owners.is_some() || raw.name_case.is_some() || raw.schema_map.is_some();
    if oracle_only && engine != Engine::Oracle {
        return Err(format!(
            "{side}: owners, name_case and schema_map apply to an oracle source only"
        ));
    }
    let name_case = raw
        .name_case
        .as_deref()
        .map(crate::engine::model::NameCase::parse)
        .transpose()
        .map_err(|e| format!("{side}.name_case: {e}"))?
        .unwrap_or_default();
    Ok(Endpoint {
        engine,
        url,
        user: raw.user.clone(),
        password_env: raw.password_env.clone(),
        owners: raw.owners.clone().unwrap_or_default(),
        name_case,
        schema_map: raw.schema_map.clone().unwrap_or_default(),
        engine_label: None,
        problem: None,
    })
}

#[cfg(test)]
mod tests;
