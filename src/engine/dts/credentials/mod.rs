//! Alibaba Cloud credentials, found as the official SDKs' default chain finds them, in its
//! order: the `ALIBABA_CLOUD_*` AccessKey variables; an OIDC role (`ALIBABA_CLOUD_ROLE_ARN`,
//! `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`: Kubernetes RRSA); a
//! profile of the `aliyun` CLI's `~/.aliyun/config.json` in any mode it writes; a section of
//! `~/.alibabacloud/credentials.ini`; the ECS instance's RAM role from the metadata service;
//! `ALIBABA_CLOUD_CREDENTIALS_URI`. Temporary credentials are refreshed before they expire,
//! so a week-long watch keeps working.
//!
//! What the credential services answer is untrusted input, like DTS's: no redirect is
//! followed (it would carry a signed request, or a metadata token, elsewhere), answers are
//! bounded, every call has a deadline, and no secret reaches a message, a log or the journal.

mod fetch;
mod files;
mod types;

use super::settings::DtsSettings;
use files::cli_config_path;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
pub use types::{Credentials, Environment, Link, Provider, Services};
use types::{Issued, ROLE_SECONDS};

/// The links to try, in the SDKs' order. Only what can be known without a network call is
/// decided here; a link that then fails to fetch gives way to the next, as in the SDKs. A
/// profile named in the config is the only link.
pub fn chain(profile: Option<&str>, env: &Environment) -> Result<Vec<Link>, String> {
    if let Some(profile) = profile {
        return Ok(vec![files::cli_profile(env, Some(profile))?.ok_or_else(|| {
            format!(
                "[dts] profile = \"{profile}\", but there is no aliyun CLI config ({}); run `aliyun configure`",
                cli_config_path(env).map_or("~/.aliyun/config.json".into(), |p| p.display().to_string())
            )
        })?]);
    }
    let mut links = vec![];
    if let Some(link) = from_env(env)? {
        links.push(link);
    }
    if let (Some(role_arn), Some(provider_arn), Some(token_file)) = (
        env.var("ALIBABA_CLOUD_ROLE_ARN"),
        env.var("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
        env.var("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
    ) {
        links.push(Link {
            name: format!("OIDC role {role_arn} (ALIBABA_CLOUD_ROLE_ARN, token file {token_file})"),
            provider: Provider::Oidc {
                role_arn: role_arn.to_string(),
                provider_arn: provider_arn.to_string(),
                token_file: PathBuf::from(token_file),
                session_name: env.session_name(),
                seconds: ROLE_SECONDS,
            },
        });
    }
    if !env.is_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
        links.extend(files::cli_profile(env, None)?);
    }
    links.extend(files::credentials_file(env)?);
    if !env.is_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
        let role = env.var("ALIBABA_CLOUD_ECS_METADATA").map(String::from);
        links.push(Link {
            name: match &role {
                Some(role) => format!("ECS instance RAM role '{role}'"),
                None => "ECS instance RAM role".to_string(),
            },
            provider: Provider::EcsRole {
                role,
                imds_v1: !env.is_true("ALIBABA_CLOUD_IMDSV1_DISABLED"),
            },
        });
    }
    if let Some(uri) = env.var("ALIBABA_CLOUD_CREDENTIALS_URI") {
        links.push(Link {
            name: format!("credentials URI {}", crate::engine::text::excerpt(uri, 120)),
            provider: Provider::Uri(uri.to_string()),
        });
    }
    Ok(links)
}

fn from_env(env: &Environment) -> Result<Option<Link>, String> {
    let id = env.var("ALIBABA_CLOUD_ACCESS_KEY_ID");
    let secret = env.var("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    match (id, secret) {
        (Some(id), Some(secret)) => {
            let token = env.var("ALIBABA_CLOUD_SECURITY_TOKEN").map(String::from);
            Ok(Some(Link {
                name: format!(
                    "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID{}",
                    if token.is_some() {
                        " (with an STS token)"
                    } else {
                        ""
                    }
                ),
                provider: Provider::Static(Credentials {
                    access_key_id: id.to_string(),
                    access_key_secret: secret.to_string(),
                    security_token: token,
                }),
            }))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err("ALIBABA_CLOUD_ACCESS_KEY_ID is set but \
                                ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"
            .to_string()),
        (None, Some(_)) => Err("ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but \
                                ALIBABA_CLOUD_ACCESS_KEY_ID is not"
            .to_string()),
    }
}

/// Every source of the process, by where its services are and which profile it reads.
type Sources = HashMap<(Services, Option<String>), Arc<Source>>;

/// The credentials one `[dts]` section uses: found once per process, then refreshed before
/// they expire. Shared, so a watch that lists jobs every few rounds keeps one source.
pub struct Source {
    services: Services,
    profile: Option<String>,
    state: tokio::sync::Mutex<Option<(Link, Issued, SystemTime)>>,
}

impl Source {
    /// The process's source for these settings.
    pub fn for_settings(settings: &DtsSettings, connect: Duration) -> Arc<Source> {
        static SOURCES: OnceLock<Mutex<Sources>> = OnceLock::new();
        let services = Services::new(settings, connect);
        let key = (services.clone(), settings.profile.clone());
        let mut sources = SOURCES
            .get_or_init(Default::default)
            .lock()
            .expect("not poisoned");
        sources
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Source {
                    services,
                    profile: settings.profile.clone(),
                    state: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    /// Credentials good for the next request, and the link they came from. Refreshed when
    /// less than a quarter of their lifetime (at most 15 minutes) is left; if a refresh fails
    /// while the old ones still work, they are used and the failure is logged.
    pub async fn current(&self) -> Result<(Credentials, String), String> {
        let mut state = self.state.lock().await;
        let now = SystemTime::now();
        if let Some((link, issued, obtained)) = state.as_ref() {
            match issued.expires {
                None => return Ok((issued.credentials.clone(), link.name.clone())),
                Some(expires) => {
                    let lifetime = expires.duration_since(*obtained).unwrap_or_default();
                    let margin = (lifetime / 4).min(Duration::from_secs(15 * 60));
                    if now + margin < expires {
                        return Ok((issued.credentials.clone(), link.name.clone()));
                    }
                    match fetch::issue(&link.provider, &self.services).await {
                        Ok(fresh) => {
                            let name = link.name.clone();
                            let credentials = fresh.credentials.clone();
                            let link = link.clone();
                            *state = Some((link, fresh, now));
                            return Ok((credentials, name));
                        }
                        Err(e) if now < expires => {
                            crate::log::line(
                                "WARN",
                                &format!("refreshing DTS credentials from {} failed ({e}); the current ones are used until they expire", link.name),
                            );
                            return Ok((issued.credentials.clone(), link.name.clone()));
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        let links = chain(self.profile.as_deref(), &Environment::current())?;
        // Only the places every machine has (the metadata service, a URI): nothing was
        // configured, so say how to configure it.
        let configured = links
            .iter()
            .any(|l| !matches!(l.provider, Provider::EcsRole { role: None, .. }));
        let mut reasons = vec![];
        for link in links {
            match fetch::issue(&link.provider, &self.services).await {
                Ok(issued) => {
                    let mut link = link;
                    // As the SDKs do, a link that fails gives way to the next; the operator
                    // who configured the first is told it was passed over, and why.
                    if !reasons.is_empty() {
                        link.name = format!("{}, after: {}", link.name, reasons.join("; "));
                    }
                    crate::log::line("INFO", &format!("DTS credentials from {}", link.name));
                    let answer = (issued.credentials.clone(), link.name.clone());
                    *state = Some((link, issued, now));
                    return Ok(answer);
                }
                Err(e) => reasons.push(format!("{}: {e}", link.name)),
            }
        }
        let tried = match reasons.is_empty() {
            true => String::new(),
            false => format!(" (tried {})", reasons.join("; ")),
        };
        Err(if configured {
            format!("no Alibaba Cloud credentials could be obtained{tried}")
        } else {
            format!(
                "no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and \
                 ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS), \
                 configure a profile with `aliyun configure`, or run on an ECS instance with a \
                 RAM role{tried}"
            )
        })
    }
}

#[cfg(test)]
mod tests;
