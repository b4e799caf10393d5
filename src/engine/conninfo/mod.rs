//! libpq's connection conventions, so that a string psql accepts reaches the same server here:
//! the connection string (URL or `key=value`) wins over the service file's entry, which wins
//! over the `PG*` environment variables, which win over the defaults (the Unix socket, the
//! operating system's user name, port 5432).

mod environment;
mod keywords;
mod merge;
mod parse;
mod service;
mod settings;
#[cfg(test)]
mod tests;

pub use environment::Environment;
pub use merge::{merge, Merged, Origin};
pub use settings::{ChannelBinding, HostEntry, Route, Settings, TargetSession};

/// The connection string resolved into what seqsync connects with.
pub fn resolve(conninfo: &str, env: &Environment) -> Result<Settings, String> {
    let merged = merge(conninfo, env)?;
    Settings::from_merged(merged, env)
}
