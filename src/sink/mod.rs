//! Syslog output: events from the flow engine to SIEMs, as sFlow-RT's `syslog()` sends them.
//!
//! Laid out by role, like a Vector sink:
//! - [`config`]: one `[[sink]]` destination, validated while it is parsed;
//! - [`format`](mod@format): the message layouts (`sflow-rt` byte for byte, `rfc5424`, `json`) and the
//!   stream framings (RFC 6587 octet counting, LF);
//! - [`transport`]: UDP with `sendmmsg`, TCP and TLS (rustls) with vectored writes;
//! - [`sender`]: [`SyslogSink`], the threads that drain the flow workers' rings, queue per
//!   destination, batch, reconnect, and count every event that does not make it.

pub mod config;
pub mod format;
pub mod sender;
pub mod transport;

pub use config::SinkConfig;
pub use sender::{
    DestinationStats, LatencyBuckets, LatencySummary, SinkStats, SyslogSink, Tap, TapCounters,
    LATENCY_BOUNDS_US,
};
