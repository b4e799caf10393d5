//! The vocabulary of credentials: what they are, how they are obtained, from where.

use crate::engine::dts::settings::DtsSettings;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Where STS and the ECS metadata service are, unless the config says otherwise.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com";
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";
/// How long an assumed role's credentials are asked for (the SDKs' default).
pub const ROLE_SECONDS: u64 = 3600;

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

/// How credentials are obtained: given, or asked of a service with other credentials.
#[derive(Debug, Clone)]
pub enum Provider {
    Static(Credentials),
    /// STS AssumeRole, signed with the credentials `base` gives.
    RamRole {
        base: Box<Provider>,
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        seconds: u64,
    },
    /// STS AssumeRoleWithOIDC with the token in `token_file` (re-read at every refresh: the
    /// Kubernetes kubelet rotates it).
    Oidc {
        role_arn: String,
        provider_arn: String,
        token_file: PathBuf,
        session_name: String,
        seconds: u64,
    },
    /// The ECS instance's RAM role (`None`: the one the metadata service names).
    EcsRole {
        role: Option<String>,
        imds_v1: bool,
    },
    Uri(String),
}

/// Credentials and when they stop working (None: never).
#[derive(Debug, Clone)]
pub struct Issued {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
}

/// What the process reads from outside: captured so the chain can be tested without touching
/// the process's environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
    pub home: Option<PathBuf>,
}

impl Environment {
    pub fn current() -> Environment {
        Environment {
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("ALIBABA_CLOUD_"))
                .collect(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.var(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn session_name(&self) -> String {
        self.var("ALIBABA_CLOUD_ROLE_SESSION_NAME")
            .map(String::from)
            .unwrap_or_else(|| {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                format!("seqsync-{now}")
            })
    }
}

/// One link of the chain: what it is called (never a secret) and how it gets credentials.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub provider: Provider,
}

/// Where the credential services are, and how long seqsync waits for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Services {
    pub sts: String,
    pub metadata: String,
    pub patience: Duration,
}

impl Services {
    pub fn new(settings: &DtsSettings, connect: Duration) -> Services {
        Services {
            sts: settings
                .sts_endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_STS_ENDPOINT.to_string()),
            metadata: settings
                .metadata_endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_string()),
            patience: connect + Duration::from_secs(1),
        }
    }
}
