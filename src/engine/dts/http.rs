//! The one HTTP client every cloud call uses (DTS, STS, the ECS metadata service): answers are
//! untrusted, so a redirect is never followed (it would carry a signed request, a token or a
//! metadata token to a host nobody configured) and no Referer is sent; every call is bounded.

use std::time::Duration;

pub fn client(connect: Duration, total: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .user_agent(concat!("seqsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}
