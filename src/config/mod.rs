//! The TOML configuration of `flowsift run`: receive engine, flow workers, flow
//! definitions, syslog destinations, stats and shutdown.
//!
//! ```toml
//! [rx]            # receive engine (crate::rx::RxConfig): listen, cores, io, buffers ...
//! [workers]       # flow workers: count, cores, event queue
//! [[group]]       # address group sets (crate::groups::GroupSpec), for `group:KEY:SET` keys
//! [[flow]]        # sFlow-RT flow definitions (crate::flow::FlowSpec); default: `uport`
//! [[threshold]]   # thresholds on flow and interface metrics (crate::threshold); none by default
//! [[sink]]        # syslog destinations (crate::sink::SinkConfig); default: UDP 127.0.0.1:514
//! [stats]         # periodic stats line
//! [shutdown]      # bound on the final flush
//! [metrics]       # Prometheus endpoint (off unless `listen` is set)
//! [scheduler]     # the EEVDF slice the sleeping pipeline threads request (crate::sched)
//! [script]        # sFlow-RT JavaScript applications (crate::script::ScriptConfig)
//! ```
//!
//! Loading is two-staged, as in ripgrep: [`Config::parse`] checks everything that can be
//! checked without I/O (unknown keys are errors everywhere; each table type is
//! `deny_unknown_fields`) and [`crate::pipeline`] later turns it into running parts. Every
//! error carries the file, line and column: deserialization errors take the span `toml`
//! reports, and checks that look at a whole `[[flow]]` or `[[sink]]` (filters, flow names a
//! sink refers to) take the span of that table, kept with [`toml::Spanned`].
//!
//! Group sets are built while parsing, group files included (the one read parsing does):
//! a flow that names a set is checked against it, and a file's bad line is reported with
//! the file's name and line number. A relative `file` is relative to the configuration
//! file's directory.
//!
//! An empty file is the embedded default, which is the seed script's behaviour: the
//! `uport` flow, events to 127.0.0.1:514 over UDP, local0.notice, sFlow-RT's line format,
//! listening on port 6343. With a script (`[script] files`, or `--script` on the command
//! line) the defaults are not added: a file without `[[flow]]` or `[[sink]]` leaves the
//! flows and destinations to the scripts.
//!
//! Laid out by role:
//!
//! - `mod.rs`: [`Config`], the whole file as `check-config` prints it;
//! - `tables`: the settings tables no other module owns (`[workers]`, `[stats]`,
//!   `[shutdown]`, `[metrics]`, `[scheduler]`); the others are their modules' own
//!   (`RxConfig`, `FlowSpec`, `ThresholdSpec`, `GroupSpec`, `SinkConfig`, `ScriptConfig`);
//! - `load`: reading and checking text or a file, with the spans errors point at;
//! - `check`: the whole-configuration checks, warnings, and the thresholds and flow
//!   definitions built from a checked configuration;
//! - `seed`: the embedded default;
//! - `effective`: the configuration with every default written out;
//! - `error`: [`ConfigError`] and its positions.

mod check;
mod effective;
mod error;
mod load;
mod seed;
mod tables;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::flow::{default_specs, FlowSpec};
use crate::groups::{GroupSpec, Groups};
use crate::rx::RxConfig;
use crate::script::ScriptConfig;
use crate::sink::SinkConfig;
use crate::threshold::ThresholdSpec;

pub use error::ConfigError;
pub use tables::{MetricsConfig, SchedulerConfig, ShutdownConfig, StatsConfig, WorkersConfig};

/// The whole configuration, as `check-config` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Receive engine.
    #[serde(default)]
    pub rx: RxConfig,
    /// Flow workers.
    #[serde(default)]
    pub workers: WorkersConfig,
    /// Periodic stats.
    #[serde(default)]
    pub stats: StatsConfig,
    /// Shutdown bound.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Scheduler requests.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Address group sets (`[[group]]`).
    #[serde(rename = "group", default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    /// The sets `groups` built (files read), which the flow definitions use.
    #[serde(skip)]
    pub group_sets: Groups,
    /// Flow definitions (`[[flow]]`).
    #[serde(rename = "flow", default = "default_specs")]
    pub flows: Vec<FlowSpec>,
    /// Thresholds (`[[threshold]]`).
    #[serde(rename = "threshold", default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdSpec>,
    /// Syslog destinations (`[[sink]]`).
    #[serde(rename = "sink", default = "seed::default_sinks")]
    pub sinks: Vec<SinkConfig>,
    /// sFlow-RT JavaScript applications.
    #[serde(default)]
    pub script: ScriptConfig,
}
