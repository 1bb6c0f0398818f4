//! sFlow-RT applications: JavaScript scripts run by an embedded QuickJS engine.
//!
//! flowsift replaces sFlow-RT running `syslog.js`; users bring that script (with their
//! SIEM's address) and others built from the same API. The datapath never calls
//! JavaScript: `setFlow` configures the native flow engine (the same [`crate::flow`]
//! definitions as `[[flow]]`), and only the records the flow engine emits reach the
//! script thread, through a bounded queue beside the syslog destinations
//! ([`crate::sink::Tap`]). Laid out by role:
//!
//! - [`config`]: `[script]` (files, properties, bounds) and `-Dname=value`;
//! - [`engine`]: the script thread ([`ScriptHost`]): loading, the load-time errors, the
//!   record queue, handler deadlines and counters;
//! - [`api`]: the sFlow-RT functions bound into each script's context;
//! - [`scan`]: the load-time check that a script calls nothing flowsift lacks;
//! - [`syslog`](mod@syslog): sFlow-RT's `syslog()` line, batched per destination over UDP.

pub mod api;
pub mod config;
pub mod engine;
pub mod scan;
pub mod syslog;

pub use config::ScriptConfig;
pub use engine::{ScriptHost, ScriptStats};
