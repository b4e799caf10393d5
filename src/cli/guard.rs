//! `seqsync watch --all`: the guard as a service. Every event is one line on stdout (text, or
//! one JSON object with `--log-format json`, for journald or a log shipper) and in the log
//! file; `--metrics-listen` serves Prometheus. SIGHUP reads the config again: a config with
//! errors is refused with the reason and the running one stays. SIGINT or SIGTERM stops after
//! the rounds under way; a second one rolls them back.

use super::exit::Done;
use super::global::{offset, Global};
use super::stopping;
use super::watch::{
    round_json, LogFormat, WatchArgs, DEFAULT_MAX_CONCURRENT, DEFAULT_RELIST_EVERY,
};
use crate::config::{self, Settings};
use crate::engine::plan::PlanOptions;
use crate::engine::run::Role;
use crate::engine::run::{self, Fleet, GuardEvent, GuardOptions, WatchOptions};
use crate::engine::text::shown;
use crate::engine::Error;
use crate::metrics::{self, Registry};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub async fn run(cli: &Global, args: &WatchArgs) -> Result<Done, Error> {
    if !args.select.include.is_empty() || !args.select.exclude.is_empty() {
        return Err(Error::usage(
            "with --all, give include and exclude per instance in the config",
        ));
    }
    let (settings, ctx) = super::global::setup(cli, args.batch_size)?;
    if settings.instances.is_empty() && settings.dts.is_none() {
        // A service guarding nothing would look healthy forever.
        let found = match &settings.file {
            Some(f) => format!("{} defines no [[instances]] and no [dts]", f.display()),
            None => format!("no config file was found ({})", config::search_paths_text()),
        };
        return Err(Error::usage(format!(
            "nothing to guard: {found}; write one with `seqsync example-config`, or pass --config FILE"
        )));
    }
    let defaults = defaults(&settings, args)?;
    let fleet = fleet_of(&settings, &defaults)?;
    // Bound before anything else: a taken or malformed address fails here, before any round.
    let listener = match &args.service.metrics_listen {
        Some(address) => Some(metrics::bind(address).await?),
        None => None,
    };
    let log = args.service.log_format;
    let registry = Arc::new(Mutex::new(Registry::default()));
    let ready_within = args
        .service
        .ready_within
        .unwrap_or(fleet.defaults.interval * 3);
    if let Some(listener) = listener {
        say(
            log,
            "info",
            "metrics",
            None,
            &format!("serving metrics at http://{}/metrics", listener.address),
            json!({"address": listener.address.to_string()}),
        );
        tokio::spawn(metrics::serve(listener, registry.clone(), ready_within));
    }
    let (fleet_sender, fleet_receiver) = tokio::sync::watch::channel(Arc::new(fleet));
    let config = cli.config.clone();
    let stopping = stopping::listen(
        move || {
            say(
                log,
                "info",
                "stopping",
                None,
                "stopping after the rounds under way (again to roll them back)",
                json!({}),
            )
        },
        move || {
            say(
                log,
                "warn",
                "cancelling",
                None,
                "rolling back the rounds under way",
                json!({}),
            )
        },
        Some(Box::new(move || {
            reload(config.as_deref(), &defaults, &fleet_sender, log)
        })),
    )?;
    let recorder = registry.clone();
    let report: run::Report = Arc::new(move |event: GuardEvent| {
        recorder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&event);
        print_event(log, &event);
    });
    say(
        log,
        "info",
        "started",
        None,
        "guarding every instance whose task is in its incremental phase",
        json!({}),
    );
    let options = GuardOptions {
        relist_every: args.service.relist_every.unwrap_or(DEFAULT_RELIST_EVERY),
        max_concurrent: usize::from(
            args.service
                .max_concurrent
                .unwrap_or(DEFAULT_MAX_CONCURRENT),
        ),
    };
    run::guard(
        &ctx,
        fleet_receiver,
        options,
        report,
        stopping.stop.clone(),
        stopping.cancel.clone(),
    )
    .await;
    drop(stopping);
    say(log, "info", "stopped", None, "the guard stopped", json!({}));
    Ok(Done::Complete)
}

/// What the command line sets for every instance, kept to rebuild the fleet on SIGHUP.
#[derive(Clone)]
struct Defaults {
    given_offset: Option<crate::engine::offset::Offset>,
    interval: Option<Duration>,
    options: WatchOptions,
}

/// What the command line and the config set for every instance.
fn defaults(settings: &Settings, args: &WatchArgs) -> Result<Defaults, Error> {
    Ok(Defaults {
        given_offset: args.offset,
        interval: args.interval,
        options: WatchOptions {
            plan: PlanOptions {
                offset: offset(args.offset, settings)?,
                allow_lower: false,
                scan_unindexed: args.scan_unindexed,
            },
            horizon: args.horizon,
            interval: args.interval.unwrap_or(settings.watch_interval),
            give_up_after: args.give_up_after,
            batch_size: args.batch_size,
        },
    })
}

fn fleet_of(settings: &Settings, defaults: &Defaults) -> Result<Fleet, Error> {
    let mut options = defaults.options;
    // What the command line gave wins over a reloaded [defaults]; the rest follows the file.
    if defaults.given_offset.is_none() {
        if let Some(o) = settings.offset {
            options.plan.offset = o;
        }
    }
    if defaults.interval.is_none() {
        options.interval = settings.watch_interval;
    }
    Ok(Fleet {
        configured: settings.instances.clone(),
        dts: settings.dts.clone(),
        overlays: settings.overlays.clone(),
        defaults: options,
        own: settings.watch.clone(),
    })
}

/// SIGHUP: the config read again and applied, or refused with the reason.
fn reload(
    file: Option<&std::path::Path>,
    defaults: &Defaults,
    sender: &tokio::sync::watch::Sender<Arc<Fleet>>,
    log: LogFormat,
) {
    match config::load(file)
        .map_err(Error::usage)
        .and_then(|s| fleet_of(&s, defaults))
    {
        Ok(fleet) => {
            say(
                log,
                "info",
                "reloaded",
                None,
                "the config was read again",
                json!({}),
            );
            let _ = sender.send(Arc::new(fleet));
        }
        Err(e) => say(
            log,
            "error",
            "reload-refused",
            None,
            &format!(
                "the config was not reloaded, the running one stays: {}",
                e.message
            ),
            json!({"error": e.message}),
        ),
    }
}

fn print_event(log: LogFormat, event: &GuardEvent) {
    match event {
        GuardEvent::Listed {
            instances,
            unanswered,
        } => {
            let level = if unanswered.is_empty() {
                "info"
            } else {
                "warn"
            };
            let mut text = format!("{instances} instance(s) listed");
            if !unanswered.is_empty() {
                text += &format!("; DTS did not answer: {}", unanswered.join("; "));
            }
            say(
                log,
                level,
                "listed",
                None,
                &text,
                json!({"instances": instances, "unanswered": unanswered}),
            );
        }
        GuardEvent::Guarding { instance } => say(
            log,
            "info",
            "guarding",
            Some(instance),
            "its task qualifies: guarded",
            json!({}),
        ),
        GuardEvent::Idle { instance, reason } => say(
            log,
            "warn",
            "not-guarded",
            Some(instance),
            &format!("not guarded: {reason}"),
            json!({"reason": reason}),
        ),
        GuardEvent::Role { instance, role } => {
            let (word, holder) = match role {
                Role::Active => ("active", None),
                Role::Standby(holder) => ("standby", holder.as_ref().map(|h| h.describe())),
            };
            let text = match &holder {
                None => format!("this replica is {word}"),
                Some(h) => format!("this replica is {word}; the guard lock is held by {h}"),
            };
            say(
                log,
                "info",
                "role",
                Some(instance),
                &text,
                json!({"role": word, "holder": holder}),
            );
        }
        GuardEvent::Round { instance, round } => {
            let line = round_json(round, true);
            let text = format!(
                "round {}: read {}, moved {}, applied {} in {} ms{}",
                round.number,
                round.read,
                round.changed,
                round.applied,
                round.took.as_millis(),
                round.smallest_headroom().map_or(String::new(), |h| format!(
                    ", smallest headroom {} ids",
                    h.ids
                ))
            );
            say(log, "info", "round", Some(instance), &text, line);
        }
        GuardEvent::Trouble {
            instance,
            error,
            retry_in,
            failing_for,
        } => say(
            log,
            "warn",
            "trouble",
            Some(instance),
            &format!(
                "failed, nothing changed: {error}; retrying in {}",
                humantime::format_duration(*retry_in)
            ),
            json!({
                "error": error,
                "retry_in_ms": retry_in.as_millis() as u64,
                "failing_for_ms": failing_for.as_millis() as u64,
            }),
        ),
        GuardEvent::Removed { instance } => say(
            log,
            "info",
            "removed",
            Some(instance),
            "no longer listed, or its config changed: its loop ended",
            json!({}),
        ),
        GuardEvent::Notice { instance, notice } => say(
            log,
            "warn",
            "notice",
            Some(instance),
            &notice.text,
            json!({}),
        ),
    }
}

/// One event: a line on stdout (flushed at once, for a pipe) and in the log file.
fn say(
    log: LogFormat,
    level: &str,
    event: &str,
    instance: Option<&str>,
    text: &str,
    fields: Value,
) {
    let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    crate::log::line(
        &level.to_uppercase(),
        &match instance {
            Some(id) => format!("guard {event} instance {id}: {text}"),
            None => format!("guard {event}: {text}"),
        },
    );
    let line = match log {
        LogFormat::Text => match instance {
            Some(id) => format!("{at} {level} instance {}: {}", shown(id), shown(text)),
            None => format!("{at} {level} {}", shown(text)),
        },
        LogFormat::Json => {
            let mut object = json!({"at": at, "level": level, "event": event, "instance": instance, "message": text});
            if let (Some(target), Value::Object(more)) = (object.as_object_mut(), fields) {
                for (k, v) in more {
                    target.entry(k).or_insert(v);
                }
            }
            crate::report::json_line(&object)
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
