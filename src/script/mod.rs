//! sFlow-RT applications: JavaScript scripts run by an embedded QuickJS engine.
//!
//! flowsift replaces sFlow-RT running `syslog.js`; users bring that script (with their
//! SIEM's address) and others built from the same API. The datapath never calls
//! JavaScript: `setFlow`, `setThreshold` and `setGroups` configure the native engine (the
//! same [`crate::flow`] definitions, [`crate::threshold`] thresholds and [`crate::groups`]
//! sets as `[[flow]]`, `[[threshold]]` and `[[group]]`), and only the records and threshold
//! events the engine emits reach the script thread, through a bounded queue beside the
//! syslog destinations ([`crate::sink::Tap`]). Laid out by role:
//!
//! - [`config`]: `[script]` (files, properties, bounds) and `-Dname=value`;
//! - [`engine`]: the script thread ([`ScriptHost`]): loading, the load-time errors, the
//!   queue of records and events, handler deadlines and counters;
//! - [`api`]: the sFlow-RT functions bound into each script's context;
//! - [`scan`]: the load-time check that a script calls nothing flowsift lacks;
//! - [`syslog`](mod@syslog): sFlow-RT's `syslog()` line, batched per destination through
//!   [`crate::udp::UdpSender`].

pub mod api;
pub mod config;
pub mod engine;
pub mod scan;
pub mod syslog;

pub use config::ScriptConfig;
pub use engine::{ScriptHost, ScriptStats};
