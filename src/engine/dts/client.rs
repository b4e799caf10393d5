//! The DTS OpenAPI (version 2020-01-01, RPC style) over HTTPS: signed requests, the service's
//! error answers as one line (`Code: Message`), throttling retried with backoff, and every page
//! of a list followed. Callers bound the whole conversation with a deadline.
//!
//! An answer is untrusted input, like a database's names. A redirect is never followed: it
//! would carry the signed `x-acs-*` headers, the STS token among them, to a host nobody
//! configured (reqwest follows up to 10 by default and turns the POST into a GET). Answers are
//! read up to [`MAX_ANSWER_BYTES`], a list stops after [`MAX_PAGES`] pages or [`MAX_JOBS`]
//! jobs whatever `TotalRecordCount` claims, a job that does not fit the model is reported by
//! its field and the rest of its page kept, and nothing of an answer is quoted beyond a short
//! excerpt.

use super::credentials::Source;
use super::job::Job;
use super::settings::DtsSettings;
use super::sign::{authorization, canonical_query, nonce, sha256_hex};
use crate::engine::instance::TaskKind;
use crate::engine::text::{excerpt, EXCERPT_CHARS};
use crate::engine::Timeouts;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const VERSION: &str = "2020-01-01";
/// The largest page `DescribeDtsJobs` serves.
const PAGE_SIZE: usize = 30;
const ATTEMPTS: u32 = 5;
/// The largest answer read. A page of 30 jobs is about 100 KB and a job's detail about 10 KB
/// (the published examples): 4 MiB leaves a 40× margin and bounds what a hostile endpoint can
/// make seqsync hold.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;
/// The most pages asked for one region and tab, and the most jobs kept from them.
pub const MAX_PAGES: usize = 100;
pub const MAX_JOBS: usize = 3_000;
/// How much of a non-JSON answer (an HTML error page) an error quotes.
const ANSWER_EXCERPT_CHARS: usize = 120;

pub struct Api {
    endpoint: reqwest::Url,
    /// How long one request may take (a connect and a second, like a database's status).
    patience: Duration,
    credentials: Arc<Source>,
    /// Where the credentials came from (never a secret), for the operator.
    pub credentials_from: String,
    http: reqwest::Client,
}

/// The jobs of one region and tab, and what could not be read of them: a job that did not fit
/// the model (its id when it has one, and why), or a list cut short (no job).
#[derive(Debug, Default)]
pub struct Jobs {
    pub jobs: Vec<Job>,
    pub problems: Vec<(Option<String>, String)>,
}

/// An answer the service gave instead of data, as it said it.
#[derive(Debug)]
struct Refusal {
    throttled: bool,
    message: String,
}

impl Api {
    /// The client, once credentials have been found (a role's are fetched here, so a refused
    /// role is one line, not one per region).
    pub async fn new(settings: &DtsSettings, timeouts: &Timeouts) -> Result<Api, String> {
        let endpoint = reqwest::Url::parse(&settings.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or_else(|| {
                format!(
                    "[dts] endpoint = \"{}\" is not an http(s) URL such as https://dts.aliyuncs.com",
                    settings.endpoint
                )
            })?;
        let credentials = Source::for_settings(settings, timeouts.connect);
        let (_, credentials_from) = credentials.current().await?;
        let patience = timeouts.connect + Duration::from_secs(1);
        let http = super::http::client(timeouts.connect, patience)?;
        Ok(Api {
            endpoint,
            patience,
            credentials,
            credentials_from,
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
        // Refreshed here when they are near their expiry: a long watch outlives an STS token.
        let (credentials, _) = self
            .credentials
            .current()
            .await
            .map_err(|message| Refusal {
                throttled: false,
                message,
            })?;
        if let Some(token) = &credentials.security_token {
            headers.insert("x-acs-security-token".to_string(), token.clone());
        }
        let auth = authorization(
            "POST",
            "/",
            query,
            &headers,
            &payload,
            &credentials.access_key_id,
            &credentials.access_key_secret,
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
        if status.is_redirection() {
            return Err(Refusal {
                throttled: false,
                message: redirect_refused(status, response.headers()),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| excerpt(v, 60).into_owned())
            .unwrap_or_else(|| "no content type".to_string());
        let body = self.bounded_body(response).await?;
        let json: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(json) => json,
            Err(e) => {
                let what = if status.is_success() {
                    format!(
                        "invalid JSON at line {} column {} (HTTP {}, {content_type})",
                        e.line(),
                        e.column(),
                        status.as_u16()
                    )
                } else {
                    format!("HTTP {status}, not JSON ({content_type})")
                };
                return Err(Refusal {
                    throttled: status.as_u16() == 429,
                    message: format!("{what}: {}", answer_excerpt(&body)),
                });
            }
        };
        let field = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_str())
                .map(|v| excerpt(v, EXCERPT_CHARS).into_owned())
        };
        let code = field("Code").or_else(|| field("ErrCode"));
        let failed = !status.is_success() || json.get("Success") == Some(&false.into());
        if !failed && json.is_object() {
            return Ok(json);
        }
        if !failed {
            return Err(Refusal {
                throttled: false,
                message: format!(
                    "the answer is JSON but not an object: {}",
                    answer_excerpt(&body)
                ),
            });
        }
        let code = code.unwrap_or_else(|| format!("HTTP {status}"));
        let message = field("Message")
            .or_else(|| field("ErrMessage"))
            .unwrap_or_else(|| "no message".to_string());
        Err(Refusal {
            throttled: code.to_ascii_lowercase().starts_with("throttling")
                || status.as_u16() == 429,
            message: format!("{code}: {message}"),
        })
    }

    /// The answer's body, refused past [`MAX_ANSWER_BYTES`] (by its stated length before
    /// anything is read, else as it arrives).
    async fn bounded_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Refusal> {
        let too_large = |size: String| Refusal {
            throttled: false,
            message: format!(
                "the answer is larger than seqsync reads ({size}; the limit is {} MiB): \
                 is [dts] endpoint the DTS API?",
                MAX_ANSWER_BYTES >> 20
            ),
        };
        if let Some(length) = response.content_length() {
            if length > MAX_ANSWER_BYTES as u64 {
                return Err(too_large(format!("{length} bytes")));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| Refusal {
            throttled: false,
            message: format!("reading the answer: {}", self.connection_error(&e)),
        })? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large("more than the limit".to_string()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
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

    /// Every job of one kind in one region, page after page, until the pages DTS says it has
    /// (counted in the page size it really serves), an empty or repeated page, [`MAX_PAGES`],
    /// [`MAX_JOBS`] or `until`: whichever comes first. A list cut short keeps what it got and
    /// says why.
    pub async fn jobs(
        &self,
        region: &str,
        kind: TaskKind,
        deadline: Duration,
    ) -> Result<Jobs, String> {
        let until = tokio::time::Instant::now() + deadline;
        let job_type = match kind {
            TaskKind::Synchronization => "SYNC",
            TaskKind::Migration => "MIGRATION",
        };
        let mut found = Jobs::default();
        let mut seen = std::collections::HashSet::new();
        let mut pages_claimed = 1;
        for page in 1..=MAX_PAGES {
            let query = BTreeMap::from([
                ("RegionId".to_string(), region.to_string()),
                ("JobType".to_string(), job_type.to_string()),
                ("PageNumber".to_string(), page.to_string()),
                ("PageSize".to_string(), PAGE_SIZE.to_string()),
            ]);
            let asked = tokio::time::timeout_at(until, self.call("DescribeDtsJobs", query)).await;
            let json = match asked {
                Ok(answer) => answer?,
                // The first page is the list: without it there is nothing to keep.
                Err(_) if page == 1 => {
                    return Err(format!(
                        "no answer within {}",
                        humantime::format_duration(deadline)
                    ))
                }
                Err(_) => {
                    found.problems.push((
                        None,
                        format!(
                            "listed {} job(s) from {} page(s) before the deadline; DTS says there \
                             are {} page(s)",
                            found.jobs.len(),
                            page - 1,
                            pages_claimed
                        ),
                    ));
                    break;
                }
            };
            let (page_jobs, total) = read_page(json)?;
            if page_jobs.is_empty() {
                break;
            }
            if page == 1 {
                pages_claimed = total.div_ceil(page_jobs.len()).max(1);
            }
            let mut new = 0;
            for value in page_jobs {
                let job = Job::from_answer(value);
                if let Some(id) = &job.dts_job_id {
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                }
                new += 1;
                if let Some(why) = &job.unreadable {
                    found.problems.push((job.dts_job_id.clone(), why.clone()));
                }
                found.jobs.push(job);
            }
            if new == 0 {
                found.problems.push((
                    None,
                    format!("page {page} repeats jobs already listed; stopped there"),
                ));
                break;
            }
            if found.jobs.len() >= MAX_JOBS || (page == MAX_PAGES && page < pages_claimed) {
                found.jobs.truncate(MAX_JOBS);
                found.problems.push((
                    None,
                    format!(
                        "DTS says there are {total} job(s); seqsync lists at most {MAX_JOBS} \
                         (or {MAX_PAGES} pages) per region and tab and listed {}",
                        found.jobs.len()
                    ),
                ));
                break;
            }
            if page >= pages_claimed {
                break;
            }
        }
        Ok(found)
    }

    pub async fn job(&self, region: &str, job_id: &str) -> Result<Job, String> {
        let query = BTreeMap::from([
            ("RegionId".to_string(), region.to_string()),
            ("DtsJobId".to_string(), job_id.to_string()),
        ]);
        let json = self.call("DescribeDtsJobDetail", query).await?;
        let job = Job::from_answer(json);
        match &job.unreadable {
            Some(why) => Err(format!("DescribeDtsJobDetail answered {why}")),
            None => Ok(job),
        }
    }
}

/// A page's jobs and the total it claims. `DtsJobList` may be absent (no jobs); anything but a
/// list is an answer in another shape.
fn read_page(mut json: serde_json::Value) -> Result<(Vec<serde_json::Value>, usize), String> {
    let jobs = match json.get_mut("DtsJobList").map(serde_json::Value::take) {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Array(jobs)) => jobs,
        Some(_) => {
            return Err(
                "DescribeDtsJobs answered in an unexpected shape: DtsJobList: expected a list"
                    .to_string(),
            )
        }
    };
    // A number in the published model; a string of digits is taken too.
    let total = match json.get("TotalRecordCount") {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    Ok((jobs, usize::try_from(total).unwrap_or(usize::MAX)))
}

/// A redirect, refused: where it pointed (a short excerpt), and why seqsync does not go there.
fn redirect_refused(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> String {
    let target = headers
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| "nowhere (no Location)".to_string());
    format!(
        "HTTP {status}: the endpoint redirects to {}; seqsync never follows a redirect (it \
         would carry the signed request and any STS token elsewhere): set [dts] endpoint to \
         the address that answers",
        excerpt(&target, EXCERPT_CHARS)
    )
}

/// The start of an answer that could not be used, whitespace folded, for the operator to
/// recognise (an HTML error page's first words), with the answer's whole length when cut.
fn answer_excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(ANSWER_EXCERPT_CHARS * 4)];
    let folded = String::from_utf8_lossy(head)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match folded.char_indices().nth(ANSWER_EXCERPT_CHARS) {
        None if head.len() == body.len() => format!("«{folded}»"),
        None => format!("«{folded}…» ({} bytes)", body.len()),
        Some((cut, _)) => format!("«{}…» ({} bytes)", &folded[..cut], body.len()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_answer_is_quoted_short_with_its_whole_length() {
        assert_eq!(
            answer_excerpt(b"  <h1>Bad\n Gateway</h1> "),
            "«<h1>Bad Gateway</h1>»"
        );
        let page = format!("<title>500</title>{}", " padding".repeat(10_000));
        let quoted = answer_excerpt(page.as_bytes());
        assert!(
            quoted.starts_with("«<title>500</title> padding"),
            "{quoted}"
        );
        assert!(
            quoted.ends_with(&format!("…» ({} bytes)", page.len())),
            "{quoted}"
        );
        assert!(
            quoted.chars().count() < ANSWER_EXCERPT_CHARS + 30,
            "{quoted}"
        );
    }
}
