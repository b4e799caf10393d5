//! The engines seqsync speaks to, and the source → destination pairs it supports (those the
//! console supports).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Postgresql,
    PolardbPg,
    PolardbOracle,
    Oracle,
}

pub const ENGINE_NAMES: &str = "postgresql, polardb-pg, polardb-oracle, oracle";

/// The source → destination pairs the console supports, and so do we.
pub const SUPPORTED_PAIRS: &[(Engine, &[Engine])] = &[
    (
        Engine::Postgresql,
        &[Engine::Postgresql, Engine::PolardbPg, Engine::PolardbOracle],
    ),
    (Engine::PolardbPg, &[Engine::Postgresql, Engine::PolardbPg]),
    (Engine::PolardbOracle, &[Engine::PolardbOracle]),
    (Engine::Oracle, &[Engine::PolardbOracle]),
];

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::PolardbPg => "polardb-pg",
            Engine::PolardbOracle => "polardb-oracle",
            Engine::Oracle => "oracle",
        }
    }

    pub fn parse(text: &str) -> Result<Engine, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" | "pg" => Ok(Engine::Postgresql),
            "polardb-pg" | "polardb-postgresql" => Ok(Engine::PolardbPg),
            "polardb-oracle" => Ok(Engine::PolardbOracle),
            "oracle" => Ok(Engine::Oracle),
            _ => Err(format!(
                "unknown engine '{text}': expected one of {ENGINE_NAMES}"
            )),
        }
    }

    /// Engines reached over the PostgreSQL wire protocol.
    pub fn speaks_postgres(self) -> bool {
        !matches!(self, Engine::Oracle)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub fn check_pair(source: Engine, destination: Engine) -> Result<(), String> {
    let supported = SUPPORTED_PAIRS
        .iter()
        .any(|(s, ds)| *s == source && ds.contains(&destination));
    if supported {
        Ok(())
    } else {
        Err(format!(
            "unsupported pair {source} → {destination}; supported pairs: {}",
            supported_pairs_text()
        ))
    }
}

pub fn supported_pairs_text() -> String {
    SUPPORTED_PAIRS
        .iter()
        .map(|(s, ds)| {
            let ds: Vec<&str> = ds.iter().map(|d| d.name()).collect();
            format!("{s} → {}", ds.join("|"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
