//! The credential files: the `aliyun` CLI's `~/.aliyun/config.json` (every mode the CLI
//! writes: AK, StsToken, RamRoleArn, EcsRamRole, ChainableRamRoleArn, OIDC) and the SDKs'
//! `~/.alibabacloud/credentials.ini` (`type` = access_key, ram_role_arn, oidc_role_arn,
//! ecs_ram_role). A malformed file is reported by line and key, never by value.

use super::types::{Credentials, Environment, Link, Provider, ROLE_SECONDS};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize, Default)]
struct CliConfig {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    ram_role_arn: String,
    ram_session_name: String,
    ram_role_name: String,
    source_profile: String,
    external_id: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
    role_session_name: String,
    expired_seconds: Option<u64>,
}

/// The `aliyun` CLI's config file.
pub fn cli_config_path(env: &Environment) -> Option<PathBuf> {
    env.home
        .as_ref()
        .map(|h| h.join(".aliyun").join("config.json"))
}

/// The CLI profile `wanted` (else `ALIBABA_CLOUD_PROFILE`, else the file's `current`), or None
/// when there is no CLI config file.
pub fn cli_profile(env: &Environment, wanted: Option<&str>) -> Result<Option<Link>, String> {
    let Some(path) = cli_config_path(env).filter(|p| p.is_file()) else {
        return Ok(None);
    };
    from_cli_file(&path, wanted.or(env.var("ALIBABA_CLOUD_PROFILE")), env).map(Some)
}

fn from_cli_file(path: &Path, wanted: Option<&str>, env: &Environment) -> Result<Link, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    // Where and what, never the value: a secret in the wrong place must not reach the screen.
    let config: CliConfig = crate::engine::untrusted::from_str(&text)
        .map_err(|misfit| format!("{shown} is not valid: {misfit}"))?;
    let name = wanted
        .map(String::from)
        .or_else(|| Some(config.current.clone()).filter(|c| !c.is_empty()))
        .unwrap_or_else(|| "default".to_string());
    let provider = cli_provider(&config, &name, &shown.to_string(), env, 0)?;
    let mode = &config
        .profiles
        .iter()
        .find(|p| p.name == name)
        .expect("found above")
        .mode;
    Ok(Link {
        name: format!("aliyun CLI profile '{name}' ({mode}) in {shown}"),
        provider,
    })
}

fn cli_provider(
    config: &CliConfig,
    name: &str,
    shown: &str,
    env: &Environment,
    depth: usize,
) -> Result<Provider, String> {
    if depth > 5 {
        return Err(format!(
            "profile '{name}' in {shown}: source_profile goes round in a circle"
        ));
    }
    let profile = config
        .profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = config.profiles.iter().map(|p| p.name.as_str()).collect();
            format!(
                "{shown} has no profile '{name}' (profiles: {})",
                names.join(", ")
            )
        })?;
    let missing = |what: &str| {
        format!(
            "profile '{name}' in {shown} (mode {}) has no {what}",
            profile.mode
        )
    };
    let keys = |token: Option<String>| -> Result<Provider, String> {
        if profile.access_key_id.is_empty() || profile.access_key_secret.is_empty() {
            return Err(missing("access_key_id or access_key_secret"));
        }
        Ok(Provider::Static(Credentials {
            access_key_id: profile.access_key_id.clone(),
            access_key_secret: profile.access_key_secret.clone(),
            security_token: token,
        }))
    };
    let session = |given: &str| {
        Some(given.to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| env.session_name())
    };
    let role = |base: Provider| -> Result<Provider, String> {
        if profile.ram_role_arn.is_empty() {
            return Err(missing("ram_role_arn"));
        }
        Ok(Provider::RamRole {
            base: Box::new(base),
            role_arn: profile.ram_role_arn.clone(),
            session_name: session(&profile.ram_session_name),
            external_id: Some(profile.external_id.clone()).filter(|e| !e.is_empty()),
            seconds: profile.expired_seconds.unwrap_or(ROLE_SECONDS),
        })
    };
    match profile.mode.as_str() {
        "AK" => keys(None),
        "StsToken" => keys(Some(profile.sts_token.clone()).filter(|t| !t.is_empty())),
        "RamRoleArn" => role(keys(None)?),
        "ChainableRamRoleArn" => {
            if profile.source_profile.is_empty() {
                return Err(missing("source_profile"));
            }
            role(cli_provider(
                config,
                &profile.source_profile,
                shown,
                env,
                depth + 1,
            )?)
        }
        "EcsRamRole" => Ok(Provider::EcsRole {
            role: Some(profile.ram_role_name.clone()).filter(|r| !r.is_empty()),
            imds_v1: !env.is_true("ALIBABA_CLOUD_IMDSV1_DISABLED"),
        }),
        "OIDC" => {
            if profile.oidc_provider_arn.is_empty() || profile.oidc_token_file.is_empty() {
                return Err(missing("oidc_provider_arn or oidc_token_file"));
            }
            if profile.ram_role_arn.is_empty() {
                return Err(missing("ram_role_arn"));
            }
            Ok(Provider::Oidc {
                role_arn: profile.ram_role_arn.clone(),
                provider_arn: profile.oidc_provider_arn.clone(),
                token_file: PathBuf::from(&profile.oidc_token_file),
                session_name: session(&profile.role_session_name),
                seconds: profile.expired_seconds.unwrap_or(ROLE_SECONDS),
            })
        }
        other => Err(format!(
            "profile '{name}' in {shown} uses mode {other}; seqsync reads modes AK, StsToken, \
             RamRoleArn, EcsRamRole, ChainableRamRoleArn and OIDC"
        )),
    }
}

/// `ALIBABA_CLOUD_CREDENTIALS_FILE`, else `~/.alibabacloud/credentials.ini` (the Python SDK's
/// name) or `~/.alibabacloud/credentials` (the Go and Java SDKs'): the section
/// `ALIBABA_CLOUD_PROFILE` names, else `default`.
pub fn credentials_file(env: &Environment) -> Result<Option<Link>, String> {
    let path = match env.var("ALIBABA_CLOUD_CREDENTIALS_FILE") {
        Some(file) => Some(PathBuf::from(file)),
        None => env.home.as_ref().and_then(|home| {
            ["credentials.ini", "credentials"]
                .iter()
                .map(|name| home.join(".alibabacloud").join(name))
                .find(|p| p.is_file())
        }),
    };
    let Some(path) = path.filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let sections = ini(&text, &shown)?;
    let name = env.var("ALIBABA_CLOUD_PROFILE").unwrap_or("default");
    let Some(section) = sections.get(name) else {
        return Ok(None);
    };
    let get = |key: &str| section.get(key).cloned().filter(|v| !v.is_empty());
    let need = |key: &str| get(key).ok_or_else(|| format!("[{name}] in {shown} has no {key}"));
    let kind = need("type")?;
    let session = || get("role_session_name").unwrap_or_else(|| env.session_name());
    let keys = || -> Result<Provider, String> {
        Ok(Provider::Static(Credentials {
            access_key_id: need("access_key_id")?,
            access_key_secret: need("access_key_secret")?,
            security_token: None,
        }))
    };
    let provider = match kind.as_str() {
        "access_key" => keys()?,
        "ram_role_arn" => Provider::RamRole {
            base: Box::new(keys()?),
            role_arn: need("role_arn")?,
            session_name: session(),
            external_id: None,
            seconds: ROLE_SECONDS,
        },
        "oidc_role_arn" => Provider::Oidc {
            role_arn: need("role_arn")?,
            provider_arn: need("oidc_provider_arn")?,
            token_file: PathBuf::from(need("oidc_token_file_path")?),
            session_name: session(),
            seconds: ROLE_SECONDS,
        },
        "ecs_ram_role" => Provider::EcsRole {
            role: get("role_name"),
            imds_v1: !env.is_true("ALIBABA_CLOUD_IMDSV1_DISABLED"),
        },
        other => {
            return Err(format!(
                "[{name}] in {shown} has type = {other}; seqsync reads access_key, ram_role_arn, \
                 oidc_role_arn and ecs_ram_role"
            ))
        }
    };
    Ok(Some(Link {
        name: format!("[{name}] ({kind}) in {shown}"),
        provider,
    }))
}

/// A plain INI file: `[section]`, `key = value`, `#` and `;` comments. A line that is none of
/// these is named by its number, never quoted (it may hold a secret).
fn ini(text: &str, shown: &str) -> Result<HashMap<String, HashMap<String, String>>, String> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            sections.entry(name.trim().to_string()).or_default();
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, line.split_once('=')) else {
            return Err(format!(
                "{shown}, line {}: expected [section] or key = value",
                number + 1
            ));
        };
        let value = value.trim().trim_matches('"');
        sections
            .get_mut(section)
            .expect("inserted")
            .insert(key.trim().to_string(), value.to_string());
    }
    Ok(sections)
}
