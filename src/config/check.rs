//! The whole-configuration checks and what is derived from a checked configuration: the
//! names a sink's `flows` list may take, the listen list and scheduler bounds
//! ([`Config::check`], run again after command-line overrides), the validated thresholds
//! and flow definitions the pipeline builds from, and the warnings `check-config` and
//! `run` print for definitions whose events reach no sink.

use super::Config;
use crate::flow::{FlowDefinition, FlowDefinitions, FlowSpec};
use crate::groups::Groups;
use crate::threshold::Threshold;

/// Each flow's name and `maxEntries` (what a threshold's metric is checked against); a
/// spec that does not validate counts with the default bound (its own error comes first).
pub(super) fn flow_bounds<'a>(flows: &'a [FlowSpec], groups: &Groups) -> Vec<(&'a str, usize)> {
    flows
        .iter()
        .map(|f| {
            let max = FlowDefinition::from_spec_in(f, groups).map_or(100_000, |d| d.max_entries);
            (f.name.as_str(), max)
        })
        .collect()
}

impl Config {
    /// Every sink's settings, and the flows and thresholds its `flows` list names.
    pub fn check_sink_flows(&self) -> Result<(), String> {
        let mut names: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
        names.extend(self.thresholds.iter().map(|t| t.name.as_str()));
        for s in &self.sinks {
            s.validate(&names)?;
            // A group column's sets must exist, as in a flow's `keys`.
            for f in &s.fields {
                if let crate::sink::format::Field::Group(text) = f.0 {
                    crate::flow::GroupKey::parse(text, &self.group_sets)
                        .map_err(|e| format!("sink '{}': field {e}", s.name))?;
                }
            }
        }
        Ok(())
    }

    /// Whole-configuration checks, also run after command-line overrides.
    pub fn check(&self) -> Result<(), String> {
        self.check_scripted(!self.script.is_empty())
    }

    /// [`Config::check`]; `scripted`: scripts run (perhaps named only on the command
    /// line), so no sink is needed, and the names in sinks' `flows` lists are checked once
    /// the scripts have defined theirs.
    pub(super) fn check_scripted(&self, scripted: bool) -> Result<(), String> {
        if self.rx.listen.is_empty() {
            return Err("rx.listen is empty: give at least one address to listen on".into());
        }
        if self.sinks.is_empty() && !scripted {
            return Err("no [[sink]]: events would go nowhere".into());
        }
        self.script.check()?;
        if scripted {
            // A sink may name flows and thresholds the scripts define; they are known once
            // the scripts have loaded, when [`Config::check_sink_flows`] runs.
            for s in &self.sinks {
                let mut s = s.clone();
                s.flows.clear();
                s.validate(&[])?;
            }
        } else {
            self.check_sink_flows()?;
        }
        let slice = self.scheduler.slice_us;
        if slice != 0 && !(100..=100_000).contains(&slice) {
            return Err(format!(
                "scheduler.slice_us = {slice}: the kernel takes 100 to 100000 (microseconds), or 0 for its default"
            ));
        }
        Ok(())
    }

    /// The validated thresholds ([`Config::parse`] has checked them).
    pub fn thresholds(&self) -> Result<Vec<Threshold>, String> {
        crate::threshold::check_all(
            &self.thresholds,
            &flow_bounds(&self.flows, &self.group_sets),
        )
        .map_err(|(_, m)| m)
    }

    /// The flow definitions, each with the thresholds that watch it.
    pub fn definitions(&self, thresholds: &[Threshold]) -> Result<FlowDefinitions, String> {
        FlowDefinitions::build(&self.flows, &self.group_sets, thresholds).map_err(|e| e.to_string())
    }

    /// Notes that are not errors: definitions and thresholds whose events reach no sink.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.thresholds {
            let taken = self
                .sinks
                .iter()
                .any(|s| s.flows.is_empty() || s.flows.contains(&t.name));
            // A script's event handler may take it.
            if !taken && self.script.is_empty() {
                out.push(format!("threshold '{}' is taken by no [[sink]]", t.name));
            }
        }
        for f in &self.flows {
            let log = FlowDefinition::from_spec_in(f, &self.group_sets)
                .map(|d| d.log)
                .unwrap_or(true);
            if !log {
                out.push(format!(
                    "flow '{}' has log = false: its records are counted but not sent (sFlow-RT semantics)",
                    f.name
                ));
            }
            let taken = self
                .sinks
                .iter()
                .any(|s| s.flows.is_empty() || s.flows.contains(&f.name));
            // A script's flow handler may take it.
            if log && !taken && self.script.is_empty() {
                out.push(format!("flow '{}' is taken by no [[sink]]", f.name));
            }
        }
        out
    }
}
