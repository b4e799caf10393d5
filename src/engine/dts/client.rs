//! The DTS OpenAPI (version 2020-01-01, RPC style) over HTTPS: signed requests, the service's
//! error answers as one line (`Code: Message`), throttling retried with backoff, and every page
//! of a list followed. Callers bound the whole conversation with a deadline.

use super::credentials::Credentials;
use super::job::Job;
use super::settings::DtsSettings;
use super::sign::{authorization, canonical_query, sha256_hex};
use crate::engine::instance::TaskKind;
use crate::engine::Timeouts;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

const VERSION: &str = "2020-01-01";
/// The largest page `DescribeDtsJobs` serves.
const PAGE_SIZE: usize = 30;
const ATTEMPTS: u32 = 5;

pub struct Api {
    endpoint: reqwest::Url,
    /// How long one request may take (a connect and a second, like a database's status).
    patience: Duration,
    credentials: Credentials,
    http: reqwest::Client,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct JobsPage {
    dts_job_list: Vec<Job>,
    total_record_count: Option<i64>,
}

/// An answer the service gave instead of data, as it said it.
#[derive(Debug)]
struct Refusal {
    throttled: bool,
    message: String,
}

impl Api {
    pub fn new(settings: &DtsSettings, timeouts: &Timeouts) -> Result<Api, String> {
        let endpoint = reqwest::Url::parse(&settings.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or_else(|| {
                format!(
                    "[dts] endpoint = \"{}\" is not an http(s) URL such as https://dts.aliyuncs.com",
                    settings.endpoint
                )
            })?;
        let credentials = Credentials::find(settings.profile.as_deref())?;
        let patience = timeouts.connect + Duration::from_secs(1);
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(patience)
            .user_agent(concat!("seqsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Api {
            endpoint,
            patience,
            credentials,
            http,
        })
    }

    /// `Host` as the HTTP client sends it: the port only when it is not the scheme's default.
    fn host(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    async fn call_once(
        &self,
        action: &str,
        query: &BTreeMap<String, String>,
    ) -> Result<serde_json::Value, Refusal> {
        let payload = sha256_hex(b"");
        let mut headers = BTreeMap::from([
            ("host".to_string(), self.host()),
            ("x-acs-action".to_string(), action.to_string()),
            ("x-acs-version".to_string(), VERSION.to_string()),
            (
                "x-acs-date".to_string(),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ),
            ("x-acs-signature-nonce".to_string(), nonce()),
            ("x-acs-content-sha256".to_string(), payload.clone()),
        ]);
        if let Some(token) = &self.credentials.security_token {
            headers.insert("x-acs-security-token".to_string(), token.clone());
        }
        let auth = authorization(
            "POST",
            "/",
            query,
            &headers,
            &payload,
            &self.credentials.access_key_id,
            &self.credentials.access_key_secret,
        );
        let mut url = self.endpoint.clone();
        url.set_path("/");
        url.set_query(
            Some(&canonical_query(query))
                .filter(|q| !q.is_empty())
                .map(|q| &**q),
        );
        let mut request = self.http.post(url).header("authorization", auth);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.map_err(|e| Refusal {
            throttled: false,
            message: self.connection_error(&e),
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| Refusal {
            throttled: false,
            message: format!("reading the answer: {}", self.connection_error(&e)),
        })?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(String::from);
        let code = field("Code").or_else(|| field("ErrCode"));
        let failed = !status.is_success() || json.get("Success") == Some(&false.into());
        if !failed && json.is_object() {
            return Ok(json);
        }
        let code = code.unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let message = field("Message")
            .or_else(|| field("ErrMessage"))
            .unwrap_or_else(|| "no message".to_string());
        Err(Refusal {
            throttled: code.to_ascii_lowercase().starts_with("throttling")
                || status.as_u16() == 429,
            message: format!("{code}: {message}"),
        })
    }

    /// One action, retried with backoff while the service says it is throttling.
    async fn call(
        &self,
        action: &str,
        query: BTreeMap<String, String>,
    ) -> Result<serde_json::Value, String> {
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=ATTEMPTS {
            match self.call_once(action, &query).await {
                Ok(json) => return Ok(json),
                Err(refusal) if refusal.throttled && attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(refusal) => return Err(refusal.message),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Every job of one kind in one region, page after page.
    pub async fn jobs(&self, region: &str, kind: TaskKind) -> Result<Vec<Job>, String> {
        let job_type = match kind {
            TaskKind::Synchronization => "SYNC",
            TaskKind::Migration => "MIGRATION",
        };
        let mut jobs = vec![];
        for page in 1.. {
            let query = BTreeMap::from([
                ("RegionId".to_string(), region.to_string()),
                ("JobType".to_string(), job_type.to_string()),
                ("PageNumber".to_string(), page.to_string()),
                ("PageSize".to_string(), PAGE_SIZE.to_string()),
            ]);
            let json = self.call("DescribeDtsJobs", query).await?;
            let page: JobsPage = serde_json::from_value(json)
                .map_err(|e| format!("DescribeDtsJobs answered in an unexpected shape: {e}"))?;
            let got = page.dts_job_list.len();
            jobs.extend(page.dts_job_list);
            let total = page.total_record_count.unwrap_or(0).max(0) as usize;
            if got < PAGE_SIZE || jobs.len() >= total {
                break;
            }
        }
        Ok(jobs)
    }

    pub async fn job(&self, region: &str, job_id: &str) -> Result<Job, String> {
        let query = BTreeMap::from([
            ("RegionId".to_string(), region.to_string()),
            ("DtsJobId".to_string(), job_id.to_string()),
        ]);
        let json = self.call("DescribeDtsJobDetail", query).await?;
        serde_json::from_value(json)
            .map_err(|e| format!("DescribeDtsJobDetail answered in an unexpected shape: {e}"))
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Api {
    /// A transport error in one line, with its cause (reqwest's own message is terse).
    fn connection_error(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!(
                "no answer within {}",
                humantime::format_duration(self.patience)
            );
        }
        // The innermost cause says what happened ("Connection refused", a certificate error).
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let origin = self.endpoint.origin().ascii_serialization();
        if e.is_connect() {
            format!("cannot connect to {origin}: {cause}")
        } else {
            format!("talking to {origin}: {cause}")
        }
    }
}
