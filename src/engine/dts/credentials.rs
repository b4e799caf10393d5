//! Alibaba Cloud credentials, found where the official SDKs and the `aliyun` CLI look: the
//! `ALIBABA_CLOUD_*` environment variables, else a profile of `~/.aliyun/config.json` (modes AK
//! and StsToken). A secret never reaches a message, a log or the journal: `Debug` hides it.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// An STS token, sent as `x-acs-security-token`.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"****")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "****"),
            )
            .finish()
    }
}

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
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The `aliyun` CLI's config file.
pub fn cli_config_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aliyun").join("config.json"))
}

impl Credentials {
    /// A profile named in seqsync's config wins; otherwise the environment, then the CLI's
    /// profile (`ALIBABA_CLOUD_PROFILE`, else its `current` one).
    pub fn find(profile: Option<&str>) -> Result<Credentials, String> {
        if profile.is_none() {
            if let Some(found) = Self::from_env()? {
                return Ok(found);
            }
        }
        let path = cli_config_path();
        match path.as_ref().filter(|p| p.is_file()) {
            Some(path) => Self::from_profile_file(path, profile),
            None if profile.is_some() => Err(format!(
                "[dts] profile = \"{}\", but there is no aliyun CLI config ({}); run `aliyun configure`",
                profile.unwrap_or_default(),
                path.map_or("~/.aliyun/config.json".into(), |p| p.display().to_string())
            )),
            None => Err("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and \
                         ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for \
                         STS), or configure a profile with `aliyun configure`"
                .to_string()),
        }
    }

    fn from_env() -> Result<Option<Credentials>, String> {
        let id = env("ALIBABA_CLOUD_ACCESS_KEY_ID");
        let secret = env("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
        match (id, secret) {
            (Some(access_key_id), Some(access_key_secret)) => Ok(Some(Credentials {
                access_key_id,
                access_key_secret,
                security_token: env("ALIBABA_CLOUD_SECURITY_TOKEN"),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("ALIBABA_CLOUD_ACCESS_KEY_ID is set but \
                                    ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"
                .to_string()),
            (None, Some(_)) => Err("ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but \
                                    ALIBABA_CLOUD_ACCESS_KEY_ID is not"
                .to_string()),
        }
    }

    fn from_profile_file(
        path: &std::path::Path,
        profile: Option<&str>,
    ) -> Result<Credentials, String> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        // Where and what, never the value: a secret in the wrong place must not reach the screen.
        let config: CliConfig = crate::engine::untrusted::from_str(&text)
            .map_err(|misfit| format!("{shown} is not valid: {misfit}"))?;
        let wanted = profile
            .map(String::from)
            .or_else(|| env("ALIBABA_CLOUD_PROFILE"))
            .or_else(|| Some(config.current.clone()).filter(|c| !c.is_empty()))
            .unwrap_or_else(|| "default".to_string());
        let found = config
            .profiles
            .iter()
            .find(|p| p.name == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = config.profiles.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "{shown} has no profile '{wanted}' (profiles: {})",
                    names.join(", ")
                )
            })?;
        let token = match found.mode.as_str() {
            "AK" => None,
            "StsToken" => Some(found.sts_token.clone()).filter(|t| !t.is_empty()),
            other => {
                return Err(format!(
                    "profile '{wanted}' in {shown} uses mode {other}; seqsync reads modes AK and \
                     StsToken (or the ALIBABA_CLOUD_* environment variables)"
                ))
            }
        };
        if found.access_key_id.is_empty() || found.access_key_secret.is_empty() {
            return Err(format!(
                "profile '{wanted}' in {shown} has no access_key_id or access_key_secret"
            ));
        }
        Ok(Credentials {
            access_key_id: found.access_key_id.clone(),
            access_key_secret: found.access_key_secret.clone(),
            security_token: token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "seqsync-aliyun-{}-{}.json",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    const CONFIG: &str = r#"{"current": "work", "profiles": [
        {"name": "default", "mode": "AK", "access_key_id": "AKd", "access_key_secret": "Sd"},
        {"name": "work", "mode": "StsToken", "access_key_id": "STS.k", "access_key_secret": "Sw", "sts_token": "tok"},
        {"name": "role", "mode": "RamRoleArn", "access_key_id": "x", "access_key_secret": "y"}
    ]}"#;

    #[test]
    fn profiles_by_name_or_current_with_their_mode() {
        let path = file(CONFIG);
        let named = Credentials::from_profile_file(&path, Some("default")).unwrap();
        assert_eq!(named.access_key_id, "AKd");
        assert_eq!(named.security_token, None);
        let current = Credentials::from_profile_file(&path, None).unwrap();
        assert_eq!(current.security_token.as_deref(), Some("tok"));
        let e = Credentials::from_profile_file(&path, Some("role")).unwrap_err();
        assert!(e.contains("mode RamRoleArn"), "{e}");
        let e = Credentials::from_profile_file(&path, Some("nope")).unwrap_err();
        assert!(
            e.contains("no profile 'nope' (profiles: default, work, role)"),
            "{e}"
        );
    }

    #[test]
    fn a_malformed_file_names_line_and_key_never_the_value() {
        let path = file(
            "{\"current\": \"work\", \"profiles\": [\n  {\"name\": \"work\", \"mode\": \"AK\",\n   \"access_key_id\": \"AK1\", \"access_key_secret\": [\"sk-leaked-4711\"]}\n]}",
        );
        let e = Credentials::from_profile_file(&path, None).unwrap_err();
        assert!(!e.contains("sk-leaked-4711"), "{e}");
        assert!(
            e.contains("line 3") && e.contains("profiles[0].access_key_secret: expected a string"),
            "{e}"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            access_key_id: "AK".into(),
            access_key_secret: "very-secret".into(),
            security_token: Some("token-secret".into()),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("token-secret"),
            "{shown}"
        );
    }
}
