//! The embedded default: what an empty file means, which is the seed script's behaviour
//! (the `uport` flow, events to 127.0.0.1:514 over UDP, local0.notice, sFlow-RT's line
//! format, listening on port 6343). One place for it, so that `Config::default()`, the
//! serde defaults of the `[[flow]]` and `[[sink]]` arrays and a parse without those
//! tables all give the same configuration.

use super::{Config, MetricsConfig, SchedulerConfig, ShutdownConfig, StatsConfig, WorkersConfig};
use crate::flow::default_specs;
use crate::groups::Groups;
use crate::rx::RxConfig;
use crate::script::ScriptConfig;
use crate::sink::SinkConfig;

/// The default destination list: one UDP sink to 127.0.0.1:514.
pub(super) fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::default()]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rx: RxConfig::default(),
            workers: WorkersConfig::default(),
            stats: StatsConfig::default(),
            shutdown: ShutdownConfig::default(),
            scheduler: SchedulerConfig::default(),
            metrics: MetricsConfig::default(),
            groups: Vec::new(),
            group_sets: Groups::default(),
            flows: default_specs(),
            thresholds: Vec::new(),
            sinks: default_sinks(),
            script: ScriptConfig::default(),
        }
    }
}

impl Config {
    /// The embedded default (the seed script's behaviour).
    pub fn embedded() -> Config {
        Config::default()
    }
}
