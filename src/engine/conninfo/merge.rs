//! libpq's precedence: the string, then its service's entry, then the environment.

use super::environment::Environment;
use super::keywords::{Support, KEYWORDS};
use super::{parse, service};
use std::collections::HashMap;
use std::path::PathBuf;

/// Where a value came from, for messages (never the value of a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    ConnectionString,
    Service(PathBuf),
    Environment(&'static str),
}

/// Every keyword that has a value, after precedence, with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    values: HashMap<&'static str, (String, Origin)>,
    /// Things to tell the operator (a refused variable from the environment).
    pub warnings: Vec<String>,
}

impl Merged {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values.get(name).map(|(_, o)| o)
    }
}

/// Applies libpq's precedence: the string, then its service's entry, then the environment.
pub fn merge(conninfo: &str, env: &Environment) -> Result<Merged, String> {
    let mut merged = Merged::default();
    for (keyword, value) in parse::parse(conninfo)? {
        if let Support::Refused(why) = keyword.support {
            return Err(format!("{} is not supported: {why}", keyword.name));
        }
        merged
            .values
            .insert(keyword.name, (value, Origin::ConnectionString));
    }
    let service = match merged.get("service") {
        Some(name) => Some(name.to_string()),
        None => env.var("PGSERVICE").map(String::from),
    };
    if let Some(name) = service.filter(|s| !s.is_empty()) {
        let entry = service::lookup(&name, env)?;
        for (keyword, value) in entry.pairs {
            if let Support::Refused(why) = keyword.support {
                return Err(format!(
                    "{} (in service file {}) is not supported: {why}",
                    keyword.name,
                    entry.file.display()
                ));
            }
            merged
                .values
                .entry(keyword.name)
                .or_insert((value, Origin::Service(entry.file.clone())));
        }
    }
    for keyword in KEYWORDS {
        let Some(var) = keyword.env else { continue };
        if merged.values.contains_key(keyword.name) {
            continue;
        }
        let Some(value) = env.var(var) else { continue };
        match keyword.support {
            Support::Honoured => {
                merged
                    .values
                    .insert(keyword.name, (value.to_string(), Origin::Environment(var)));
            }
            Support::Refused(why) => merged
                .warnings
                .push(format!("ignoring environment variable {var}: {why}")),
        }
    }
    Ok(merged)
}
