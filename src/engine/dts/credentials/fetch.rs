//! Asking the credential services: STS (AssumeRole, signed with the RPC signature V1 the SDKs
//! use for it; AssumeRoleWithOIDC, which carries the OIDC token instead), the ECS metadata
//! service (an IMDSv2 token first, as the SDKs do), and a credentials URI. Each answer is read
//! up to [`MAX_ANSWER_BYTES`], never through a redirect, within the services' patience.

use super::types::{Credentials, Issued, Provider, Services};
use crate::engine::dts::sign;
use crate::engine::text::excerpt;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// A credentials answer is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 << 10;
/// The metadata service answers at once or not at all (the SDKs wait 1 s to connect, 1 s to
/// read): a jump host outside ECS must not wait long for it.
const METADATA_PATIENCE: Duration = Duration::from_secs(2);
/// The IMDSv2 token's life, as the SDKs ask for it.
const METADATA_TOKEN_SECONDS: &str = "21600";

type Answer<'a> = Pin<Box<dyn Future<Output = Result<Issued, String>> + Send + 'a>>;

pub fn issue<'a>(provider: &'a Provider, services: &'a Services) -> Answer<'a> {
    Box::pin(async move {
        match provider {
            Provider::Static(credentials) => Ok(Issued {
                credentials: credentials.clone(),
                expires: None,
            }),
            Provider::RamRole {
                base,
                role_arn,
                session_name,
                external_id,
                seconds,
            } => {
                let base = issue(base, services).await?.credentials;
                let mut query = rpc_query("AssumeRole", *seconds, role_arn, session_name);
                if let Some(external_id) = external_id {
                    query.insert("ExternalId".into(), external_id.clone());
                }
                query.insert("AccessKeyId".into(), base.access_key_id.clone());
                query.insert("SignatureMethod".into(), "HMAC-SHA1".into());
                query.insert("SignatureVersion".into(), "1.0".into());
                query.insert("SignatureNonce".into(), sign::nonce());
                if let Some(token) = &base.security_token {
                    query.insert("SecurityToken".into(), token.clone());
                }
                let signature = sign::rpc_signature("GET", &query, &base.access_key_secret);
                query.insert("Signature".into(), signature);
                sts(services, &query, role_arn).await
            }
            Provider::Oidc {
                role_arn,
                provider_arn,
                token_file,
                session_name,
                seconds,
            } => {
                let token = std::fs::read_to_string(token_file).map_err(|e| {
                    format!(
                        "cannot read the OIDC token file {}: {e}",
                        token_file.display()
                    )
                })?;
                let mut query = rpc_query("AssumeRoleWithOIDC", *seconds, role_arn, session_name);
                query.insert("OIDCProviderArn".into(), provider_arn.clone());
                query.insert("OIDCToken".into(), token.trim().to_string());
                sts(services, &query, role_arn).await
            }
            Provider::EcsRole { role, imds_v1 } => {
                ecs_role(services, role.as_deref(), *imds_v1).await
            }
            Provider::Uri(uri) => {
                let body =
                    get(&client(METADATA_PATIENCE.max(services.patience))?, uri, &[]).await?;
                temporary(&body, "the credentials URI")
            }
        }
    })
}

fn rpc_query(
    action: &str,
    seconds: u64,
    role_arn: &str,
    session: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Action".to_string(), action.to_string()),
        ("Format".to_string(), "JSON".to_string()),
        ("Version".to_string(), "2015-04-01".to_string()),
        ("DurationSeconds".to_string(), seconds.to_string()),
        ("RoleArn".to_string(), role_arn.to_string()),
        ("RoleSessionName".to_string(), session.to_string()),
        (
            "Timestamp".to_string(),
            humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        ),
    ])
}

/// Credential services answer at once; a jump host must not wait long for one that does not.
fn client(patience: Duration) -> Result<reqwest::Client, String> {
    crate::engine::dts::http::client(patience.min(Duration::from_secs(5)), patience)
}

async fn sts(
    services: &Services,
    query: &BTreeMap<String, String>,
    role_arn: &str,
) -> Result<Issued, String> {
    let url = format!(
        "{}/?{}",
        services.sts.trim_end_matches('/'),
        sign::canonical_query(query)
    );
    let body = get(&client(services.patience)?, &url, &[])
        .await
        .map_err(|e| format!("STS ({}) refused role {role_arn}: {e}", services.sts))?;
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| format!("STS ({}) answered something other than JSON", services.sts))?;
    temporary_fields(&json["Credentials"], &format!("STS ({})", services.sts))
}

async fn ecs_role(
    services: &Services,
    role: Option<&str>,
    imds_v1: bool,
) -> Result<Issued, String> {
    let http = client(METADATA_PATIENCE)?;
    let base = services.metadata.trim_end_matches('/');
    let token = match put_token(&http, &format!("{base}/latest/api/token")).await {
        Ok(token) => Some(token),
        Err(e) if imds_v1 => {
            crate::log::line("INFO", &format!("no IMDSv2 token from the ECS metadata service ({e}); asking without one"));
            None
        }
        Err(e) => return Err(format!("no IMDSv2 token from the ECS metadata service ({base}), and ALIBABA_CLOUD_IMDSV1_DISABLED is true: {e}")),
    };
    let headers: Vec<(&str, String)> = token
        .iter()
        .map(|t| ("X-aliyun-ecs-metadata-token", t.clone()))
        .collect();
    let path = format!("{base}/latest/meta-data/ram/security-credentials/");
    let role = match role {
        Some(role) => role.to_string(),
        None => {
            let named = get(&http, &path, &headers)
                .await
                .map_err(|e| format!("the ECS metadata service ({base}) named no RAM role: {e}"))?;
            let named = String::from_utf8_lossy(&named);
            let role = named.lines().next().unwrap_or_default().trim().to_string();
            if role.is_empty()
                || !role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(format!(
                    "the ECS metadata service ({base}) named no usable RAM role (is one attached to this instance?)"
                ));
            }
            role
        }
    };
    let body = get(&http, &format!("{path}{role}"), &headers)
        .await
        .map_err(|e| {
            format!("the ECS metadata service ({base}) gave no credentials for role '{role}': {e}")
        })?;
    temporary(&body, &format!("the ECS metadata service ({base})"))
}

async fn put_token(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http
        .put(url)
        .header(
            "X-aliyun-ecs-metadata-token-ttl-seconds",
            METADATA_TOKEN_SECONDS,
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    refuse_redirect(status)?;
    let body = bounded(response).await?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
) -> Result<Vec<u8>, String> {
    let mut request = http.get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(|e| describe(&e))?;
    let status = response.status();
    refuse_redirect(status)?;
    let body = bounded(response).await?;
    if !status.is_success() {
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(|v| v.as_str())
                .map(|v| excerpt(v, 200).into_owned())
        };
        return Err(match (field("Code"), field("Message")) {
            (Some(code), Some(message)) => format!("{code}: {message} (HTTP {})", status.as_u16()),
            (Some(code), None) => format!("{code} (HTTP {})", status.as_u16()),
            _ => format!("HTTP {status}"),
        });
    }
    Ok(body)
}

/// Followed, a redirect would carry a signed request, a metadata token or a role's name to a
/// host nobody configured.
fn refuse_redirect(status: reqwest::StatusCode) -> Result<(), String> {
    match status.is_redirection() {
        true => Err(format!(
            "HTTP {status}: a redirect, refused (seqsync sends credential requests only where it was configured to)"
        )),
        false => Ok(()),
    }
}

async fn bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = vec![];
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is over {} KiB; refused",
                MAX_ANSWER_BYTES >> 10
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        excerpt(&e.to_string(), 200).into_owned()
    }
}

/// `{"Code": "Success", "AccessKeyId": …, "Expiration": …}`, as the metadata service and a
/// credentials URI answer.
fn temporary(body: &[u8], from: &str) -> Result<Issued, String> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| format!("{from} answered something other than JSON"))?;
    if let Some(code) = json.get("Code").and_then(|c| c.as_str()) {
        if code != "Success" {
            return Err(format!("{from} answered Code {}", excerpt(code, 60)));
        }
    }
    temporary_fields(&json, from)
}

fn temporary_fields(json: &serde_json::Value, from: &str) -> Result<Issued, String> {
    let field = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty() && v.len() <= 4096)
            .map(String::from)
            .ok_or_else(|| format!("{from} answered without a usable {k}"))
    };
    let expiration = field("Expiration")?;
    let expires = humantime::parse_rfc3339(&expiration).map_err(|_| {
        format!(
            "{from} answered an Expiration that is not a UTC time ({})",
            excerpt(&expiration, 40)
        )
    })?;
    Ok(Issued {
        credentials: Credentials {
            access_key_id: field("AccessKeyId")?,
            access_key_secret: field("AccessKeySecret")?,
            security_token: Some(field("SecurityToken")?),
        },
        expires: Some(expires),
    })
}
