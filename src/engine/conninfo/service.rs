//! Connection service files (`pg_service.conf`), found and read as libpq finds and reads them:
//! the user's file (`$PGSERVICEFILE`, else `~/.pg_service.conf`) first; if it does not define
//! the service, the system file (`$PGSYSCONFDIR/pg_service.conf`, else the distribution's).

use super::environment::Environment;
use super::keywords::{keyword, Keyword};
use std::path::{Path, PathBuf};

/// Where distributions' libpq looks when `PGSYSCONFDIR` is not set: Debian and Ubuntu, then
/// the PGDG packages for Red Hat, Alibaba Cloud Linux and CentOS.
pub const SYSTEM_DIRS: &[&str] = &["/etc/postgresql-common", "/etc/sysconfig/pgsql"];

pub struct ServiceEntry {
    pub file: PathBuf,
    pub pairs: Vec<(&'static Keyword, String)>,
}

/// The user's file, then the system file, as (path, searched when it does not exist).
fn candidates(env: &Environment) -> Vec<PathBuf> {
    let mut files = vec![];
    match env.var("PGSERVICEFILE") {
        Some(file) => files.push(PathBuf::from(file)),
        None => files.extend(env.home.as_ref().map(|h| h.join(".pg_service.conf"))),
    }
    match env.var("PGSYSCONFDIR") {
        Some(dir) => files.push(Path::new(dir).join("pg_service.conf")),
        None => {
            let system = SYSTEM_DIRS
                .iter()
                .map(|dir| Path::new(dir).join("pg_service.conf"))
                .find(|file| file.exists())
                .unwrap_or_else(|| Path::new(SYSTEM_DIRS[0]).join("pg_service.conf"));
            files.push(system);
        }
    }
    files
}

pub fn lookup(name: &str, env: &Environment) -> Result<ServiceEntry, String> {
    let files = candidates(env);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            if file.exists() {
                return Err(format!(
                    "cannot read service file \"{}\"; check its permissions",
                    file.display()
                ));
            }
            continue;
        };
        if let Some(pairs) = section(&text, name, file)? {
            return Ok(ServiceEntry {
                file: file.clone(),
                pairs,
            });
        }
    }
    let searched: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(format!(
        "definition of service \"{name}\" not found (searched {})",
        searched.join(", ")
    ))
}

/// The pairs of `[name]` in one file, if it has that section. Lines are trimmed, `#` starts a
/// comment line, and `key=value` is taken as written (no quoting), as libpq reads it.
fn section(
    text: &str,
    name: &str,
    file: &Path,
) -> Result<Option<Vec<(&'static Keyword, String)>>, String> {
    let mut inside = false;
    let mut found = None::<Vec<_>>;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            if inside {
                break;
            }
            inside = group.strip_suffix(']') == Some(name);
            if inside {
                found = Some(vec![]);
            }
            continue;
        }
        if !inside {
            continue;
        }
        let syntax = || {
            format!(
                "syntax error in service file \"{}\", line {}",
                file.display(),
                number + 1
            )
        };
        let (key, value) = line.split_once('=').ok_or_else(syntax)?;
        if key == "service" {
            return Err(format!(
                "nested service specifications not supported in service file \"{}\", line {}",
                file.display(),
                number + 1
            ));
        }
        let known = keyword(key).ok_or_else(syntax)?;
        found
            .as_mut()
            .expect("inside a section")
            .push((known, value.to_string()));
    }
    Ok(found)
}
