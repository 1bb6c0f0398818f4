//! The effective configuration, as `check-config` prints it: every default written out
//! (each flow's attributes, each sink's host name) as `run` would use them, so an
//! operator sees what runs and the printed TOML parses back to the same configuration.

use super::Config;
use crate::flow::FlowDefinition;
use crate::sink::config::HostName;

impl Config {
    /// This configuration with every default written out: each flow's attributes (the
    /// built-in's or the defaults) and each sink's host name, as `run` would use them.
    pub fn effective(&self) -> Config {
        let mut out = self.clone();
        for spec in &mut out.flows {
            if let Ok(d) = FlowDefinition::from_spec_in(spec, &self.group_sets) {
                *spec = d.spec();
            }
        }
        for sink in &mut out.sinks {
            if sink.hostname.is_none() {
                sink.hostname = Some(HostName::system());
            }
        }
        out
    }

    /// The effective configuration ([`Config::effective`]) as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.effective())
            .unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }
}
