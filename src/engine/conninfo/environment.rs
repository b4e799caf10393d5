//! What libpq reads from outside the connection string, captured once.

use std::collections::HashMap;
use std::path::PathBuf;

/// What libpq reads from outside the string, captured once so resolution is a pure function
/// (and tests can give any environment without touching the process's).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
    pub home: Option<PathBuf>,
    /// The operating system's name for the effective user: libpq's default role.
    pub os_user: Option<String>,
}

impl Environment {
    pub fn current() -> Environment {
        Environment {
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("PG"))
                .collect(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            os_user: whoami::username().ok(),
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}
