//! `seqsync conninfo`: connect to an endpoint exactly as a run would, and say where it arrived,
//! so a DBA can check a service name, `PG*` variables or a multi-host string before a change.

use super::context::Context;
use super::target::{destination, source, SourceEndpoint};
use crate::engine::instance::Endpoint;
use crate::engine::postgres::Arrival;
use crate::engine::Error;

/// One side's answer: where it arrived, or why not.
#[derive(Debug, serde::Serialize)]
pub struct Reached {
    pub side: &'static str,
    /// The connection string as it may be shown (passwords masked).
    pub endpoint: String,
    #[serde(flatten)]
    pub arrival: Option<Arrival>,
    pub error: Option<String>,
    /// A string that does not resolve is the operator's to fix (usage); a server that does
    /// not answer is a failure.
    #[serde(skip)]
    pub error_kind: Option<crate::engine::ErrorKind>,
    pub warnings: Vec<String>,
}

pub async fn conninfo(ctx: &Context, side: &'static str, endpoint: &Endpoint) -> Reached {
    let kept = std::sync::Mutex::new(vec![]);
    let keep =
        |notice: super::context::Notice| kept.lock().expect("not poisoned").push(notice.text);
    let resolved = match side {
        "source" => source(endpoint, &keep).and_then(|s| match s {
            SourceEndpoint::Pg(pg) => Ok(pg),
            SourceEndpoint::Oracle(_) => Err(Error::usage(
                "conninfo reads PostgreSQL-protocol endpoints; an Oracle source is checked by `seqsync plan`",
            )),
        }),
        _ => destination(endpoint, &keep),
    };
    let (display, arrival) = match resolved {
        Err(e) => (crate::engine::secret::mask_password(&endpoint.url), Err(e)),
        Ok(pg) => {
            let arrival = match pg.connect(&ctx.timeouts).await {
                Ok(session) => session.arrival().await,
                Err(e) => Err(e),
            };
            (pg.display.clone(), arrival)
        }
    };
    let (arrival, error, error_kind) = match arrival {
        Ok(a) => (Some(a), None, None),
        // Errors from resolving carry the side already; a connection's do not.
        Err(e) if e.message.starts_with(side) => (None, Some(e.message), Some(e.kind)),
        Err(e) => (None, Some(format!("{side}: {}", e.message)), Some(e.kind)),
    };
    Reached {
        side,
        endpoint: display,
        arrival,
        error,
        error_kind,
        warnings: kept.into_inner().expect("not poisoned"),
    }
}
