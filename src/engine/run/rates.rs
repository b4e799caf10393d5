//! Offset advice (`seqsync rates`, and the offset dialog's suggestion): the source read twice,
//! a sample apart, gives each sequence's write rate, and the offset that covers a horizon at
//! that rate. Reads only.

use super::target::SourceEndpoint;
use crate::engine::watch::{Advice, Tracker};
use crate::engine::{Error, Timeouts};
use std::time::{Duration, Instant};

/// Time between the two readings, unless asked otherwise.
pub const DEFAULT_SAMPLE: Duration = Duration::from_secs(10);
/// How long an advised offset should last at the measured rate, unless asked otherwise.
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(15 * 60);

/// Each source sequence's rate over `sample` and the offset covering `horizon`, in the source's
/// order.
pub async fn rates(
    source: &SourceEndpoint,
    sample: Duration,
    horizon: Duration,
    timeouts: &Timeouts,
) -> Result<Vec<Advice>, Error> {
    let began = Instant::now();
    let mut tracker = Tracker::default();
    let first = source
        .read(timeouts)
        .await
        .map_err(|e| e.context("source"))?;
    tracker.observe(1, Duration::ZERO, &first);
    tokio::time::sleep(sample.saturating_sub(began.elapsed())).await;
    let at = began.elapsed();
    let second = source
        .read(timeouts)
        .await
        .map_err(|e| e.context("source"))?;
    tracker.observe(2, at, &second);
    Ok(tracker.advice(&second, horizon))
}
