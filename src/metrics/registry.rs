//! The guard's state as Prometheus sees it, and its exposition (see the module above).

use crate::engine::model::RowStatus;
use crate::engine::run::GuardEvent;
use crate::engine::run::Role;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

/// Per-sequence headroom series per instance.
pub const LEAST_HEADROOM: usize = 5;

/// Label values longer than this are cut (a hostile name must not bloat every scrape).
const LABEL_MAX: usize = 200;

#[derive(Debug, Default)]
struct InstanceState {
    guarded: bool,
    /// It was guarded by this process and then stopped qualifying.
    stopped_qualifying: bool,
    idle_reason: Option<String>,
    role: Option<Role>,
    status: Option<(String, String)>,
    rounds: u64,
    failures: u64,
    failing_since: Option<Instant>,
    last_success: Option<SystemTime>,
    /// The last round, or standby check, that went well; readiness is judged from it.
    last_good: Option<Instant>,
    round_seconds: f64,
    sequences: usize,
    behind_data: usize,
    refused: BTreeMap<&'static str, usize>,
    headroom_ids: Option<i64>,
    headroom_seconds: Option<f64>,
    least: Vec<(String, i64, Option<f64>)>,
    sequences_set: u64,
    ids_applied: u64,
}

/// Everything the guard has told; one per process.
#[derive(Debug, Default)]
pub struct Registry {
    instances: BTreeMap<String, InstanceState>,
    listed: Option<usize>,
    dts_unanswered: usize,
}

impl Registry {
    pub fn record(&mut self, event: &GuardEvent) {
        match event {
            GuardEvent::Listed {
                instances,
                unanswered,
            } => {
                self.listed = Some(*instances);
                self.dts_unanswered = unanswered.len();
            }
            GuardEvent::Guarding { instance } => {
                let s = self.instances.entry(instance.clone()).or_default();
                s.guarded = true;
                s.stopped_qualifying = false;
                s.idle_reason = None;
                s.last_good = Some(Instant::now());
            }
            GuardEvent::Idle { instance, reason } => {
                let s = self.instances.entry(instance.clone()).or_default();
                s.stopped_qualifying = s.guarded || s.stopped_qualifying;
                s.guarded = false;
                s.role = None;
                s.idle_reason = Some(reason.clone());
            }
            GuardEvent::Role { instance, role } => {
                let s = self.instances.entry(instance.clone()).or_default();
                s.role = Some(role.clone());
                if matches!(role, Role::Standby(_)) {
                    s.last_good = Some(Instant::now());
                    s.failing_since = None;
                }
            }
            GuardEvent::Round { instance, round } => {
                let s = self.instances.entry(instance.clone()).or_default();
                s.rounds += 1;
                s.failing_since = None;
                s.last_success = Some(round.at);
                s.last_good = Some(Instant::now());
                s.round_seconds = round.took.as_secs_f64();
                s.sequences = round.read;
                if let Some(o) = &round.observed {
                    s.status = Some((o.status.to_string(), o.phase.to_string()));
                }
                s.refused.clear();
                s.behind_data = 0;
                for w in &round.sequences {
                    let status = w.row.status;
                    if status == RowStatus::BehindData {
                        s.behind_data += 1;
                    }
                    if status.is_problem() {
                        *s.refused.entry(status.name()).or_default() += 1;
                    }
                    if status == RowStatus::Updated {
                        s.sequences_set += 1;
                        if let (Some(before), Some(after)) =
                            (w.row.destination_before, w.row.destination_after)
                        {
                            s.ids_applied += after.abs_diff(before);
                        }
                    }
                }
                let smallest = round.smallest_headroom();
                s.headroom_ids = smallest.map(|h| h.ids);
                s.headroom_seconds = smallest.and_then(|h| h.minutes).map(|m| m * 60.0);
                let mut least: Vec<(String, i64, Option<f64>)> = round
                    .sequences
                    .iter()
                    .filter_map(|w| w.headroom.as_ref())
                    .map(|h| {
                        (
                            crate::engine::model::display_name(&h.schema, &h.name),
                            h.ids,
                            h.minutes.map(|m| m * 60.0),
                        )
                    })
                    .collect();
                least.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                least.truncate(LEAST_HEADROOM);
                s.least = least;
            }
            GuardEvent::Trouble { instance, .. } => {
                let s = self.instances.entry(instance.clone()).or_default();
                s.failures += 1;
                s.failing_since.get_or_insert_with(Instant::now);
            }
            GuardEvent::Removed { instance } => {
                self.instances.remove(instance);
            }
            GuardEvent::Notice { .. } => {}
        }
    }

    /// Whether every guarded or failing instance has had a good round (or standby check)
    /// within `within`; the reason when not.
    pub fn readiness(&self, within: Duration) -> Result<(), String> {
        if self.listed.is_none() {
            return Err("instances have not been listed yet".to_string());
        }
        // A guarded instance, or one whose checks keep failing (it may never have been
        // reached at all), must have gone well within the limit.
        let late: Vec<&str> = self
            .instances
            .iter()
            .filter(|(_, s)| s.guarded || s.failing_since.is_some())
            .filter(|(_, s)| {
                s.last_good
                    .or(s.failing_since)
                    .is_none_or(|t| t.elapsed() > within)
            })
            .map(|(id, _)| id.as_str())
            .collect();
        if late.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "no good round within {} on: {}",
                humantime::format_duration(within),
                late.join(", ")
            ))
        }
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "seqsync_build_info",
            "gauge",
            "The running seqsync's version.",
            vec![(
                labels(&[("version", env!("CARGO_PKG_VERSION"))]),
                "1".into(),
            )],
        );
        family(
            "seqsync_instances_listed",
            "gauge",
            "Instances found in the config and DTS at the last listing.",
            self.listed
                .map(|n| (String::new(), n.to_string()))
                .into_iter()
                .collect(),
        );
        family(
            "seqsync_dts_unanswered",
            "gauge",
            "Places DTS could not be asked at the last listing.",
            vec![(String::new(), self.dts_unanswered.to_string())],
        );
        let each = |f: &dyn Fn(&InstanceState) -> Option<String>| -> Vec<(String, String)> {
            self.instances
                .iter()
                .filter_map(|(id, s)| f(s).map(|v| (labels(&[("instance_id", id)]), v)))
                .collect()
        };
        family(
            "seqsync_instance_guarded",
            "gauge",
            "1 while the instance's task qualifies and it is guarded (by this replica or another).",
            each(&|s| Some(flag(s.guarded))),
        );
        family(
            "seqsync_instance_stopped_qualifying",
            "gauge",
            "1 when the instance was guarded and its task stopped qualifying (left Running or Paused, finished, turned two-way).",
            each(&|s| Some(flag(s.stopped_qualifying))),
        );
        let mut roles = vec![];
        for (id, s) in &self.instances {
            if let Some(role) = &s.role {
                for (name, on) in [
                    ("active", *role == Role::Active),
                    ("standby", *role != Role::Active),
                ] {
                    roles.push((labels(&[("instance_id", id), ("role", name)]), flag(on)));
                }
            }
        }
        family(
            "seqsync_instance_role",
            "gauge",
            "This replica's role for the instance: the active one runs the rounds, a standby takes over within one interval.",
            roles,
        );
        let statuses = self
            .instances
            .iter()
            .filter_map(|(id, s)| {
                s.status.as_ref().map(|(status, phase)| {
                    (
                        labels(&[("instance_id", id), ("status", status), ("phase", phase)]),
                        "1".to_string(),
                    )
                })
            })
            .collect();
        family(
            "seqsync_task_status",
            "gauge",
            "The task's status and phase at the last round.",
            statuses,
        );
        family(
            "seqsync_headroom_ids",
            "gauge",
            "The smallest headroom of the instance's destination sequences over their source, in ids.",
            each(&|s| s.headroom_ids.map(|v| v.to_string())),
        );
        family(
            "seqsync_headroom_seconds",
            "gauge",
            "The smallest headroom in seconds of writes at each source sequence's measured peak rate.",
            each(&|s| s.headroom_seconds.map(float)),
        );
        let mut least = vec![];
        for (id, s) in &self.instances {
            for (name, ids, _) in &s.least {
                least.push((
                    labels(&[("instance_id", id), ("sequence", name)]),
                    ids.to_string(),
                ));
            }
        }
        family(
            "seqsync_sequence_headroom_ids",
            "gauge",
            "Headroom in ids of the instance's sequences with the least of it (at most 5 per instance).",
            least,
        );
        family(
            "seqsync_sequences",
            "gauge",
            "Source sequences read at the last round.",
            each(&|s| s.rounds.gt(&0).then(|| s.sequences.to_string())),
        );
        family(
            "seqsync_sequences_behind_data",
            "gauge",
            "Destination sequences whose target is at or below the data in their column.",
            each(&|s| s.rounds.gt(&0).then(|| s.behind_data.to_string())),
        );
        let mut refused = vec![];
        for (id, s) in &self.instances {
            for (status, n) in &s.refused {
                refused.push((
                    labels(&[("instance_id", id), ("status", status)]),
                    n.to_string(),
                ));
            }
        }
        family(
            "seqsync_sequences_refused",
            "gauge",
            "Rows the last round could not set, by status.",
            refused,
        );
        family(
            "seqsync_rounds_total",
            "counter",
            "Rounds this replica completed.",
            each(&|s| Some(s.rounds.to_string())),
        );
        family(
            "seqsync_round_failures_total",
            "counter",
            "Rounds (or the checks before them) that failed and changed nothing.",
            each(&|s| Some(s.failures.to_string())),
        );
        family(
            "seqsync_failing_seconds",
            "gauge",
            "How long the instance's rounds have been failing; 0 when the last one went well.",
            each(&|s| {
                Some(float(
                    s.failing_since.map_or(0.0, |t| t.elapsed().as_secs_f64()),
                ))
            }),
        );
        family(
            "seqsync_last_success_timestamp_seconds",
            "gauge",
            "When the instance's last good round ran (Unix time).",
            each(&|s| s.last_success.map(unix)),
        );
        family(
            "seqsync_round_duration_seconds",
            "gauge",
            "How long the last round took.",
            each(&|s| s.rounds.gt(&0).then(|| float(s.round_seconds))),
        );
        family(
            "seqsync_sequences_set_total",
            "counter",
            "Destination sequences this replica set.",
            each(&|s| Some(s.sequences_set.to_string())),
        );
        family(
            "seqsync_ids_applied_total",
            "counter",
            "Ids the destination sequences were moved ahead by, summed.",
            each(&|s| Some(s.ids_applied.to_string())),
        );
        out
    }
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "NaN".into()
    }
}

fn unix(at: SystemTime) -> String {
    float(
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    )
}

/// `{a="…",b="…"}` with each value escaped (backslash, double quote, line feed) and cut.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars().take(LABEL_MAX) {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                // Allowed by the format, but a carriage return or an escape sequence would
                // still reach someone's terminal through curl.
                c if c.is_control() => out.push('\u{FFFD}'),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests;
