//! What the guard (`seqsync watch --all`) shows Prometheus: state built from the guard's
//! events alone, rendered in the text exposition format (`seqsync_` prefix, base units,
//! `_total` counters). Instance ids and sequence names come from configs, DTS and databases:
//! label values are escaped as the format requires and cut to a bounded length.
//!
//! Per-sequence series are bounded: only the [`LEAST_HEADROOM`] sequences with the least
//! headroom of each instance get one, so a database with 100,000 sequences adds 5 series, not
//! 100,000 (Prometheus keeps every series it has seen for its retention).

mod http;
mod registry;

pub use http::{bind, serve, Listener};
pub use registry::{Registry, LEAST_HEADROOM};
