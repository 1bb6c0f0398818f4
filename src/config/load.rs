//! Reading a configuration: [`Config::load`] and the `parse` family turn TOML text into a
//! checked [`Config`]. The text is first read into [`RawConfig`], which keeps the span of
//! every table that is checked as a whole (and of every group CIDR), so each error can
//! point at the table or value that caused it; then group sets are built (their files
//! read), flows, thresholds and sinks are checked in that order (each may name what the
//! one before defines), and the whole-configuration checks run last.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::check::flow_bounds;
use super::error::line_col;
use super::seed::default_sinks;
use super::{
    Config, ConfigError, MetricsConfig, SchedulerConfig, ShutdownConfig, StatsConfig, WorkersConfig,
};
use crate::flow::{default_specs, DefinitionError, FlowDefinition, FlowDefinitions, FlowSpec};
use crate::groups::{parse_cidr, GroupError, GroupSpec, Groups};
use crate::packet::Key;
use crate::rx::RxConfig;
use crate::script::ScriptConfig;
use crate::sink::SinkConfig;
use crate::threshold::ThresholdSpec;

/// The file as read, with spans on the tables checked as a whole.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rx: RxConfig,
    #[serde(default)]
    workers: WorkersConfig,
    #[serde(default)]
    stats: StatsConfig,
    #[serde(default)]
    shutdown: ShutdownConfig,
    #[serde(default)]
    scheduler: SchedulerConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    group: Vec<Spanned<RawGroupSpec>>,
    #[serde(default)]
    flow: Option<Vec<Spanned<FlowSpec>>>,
    #[serde(default)]
    threshold: Vec<Spanned<ThresholdSpec>>,
    #[serde(default)]
    sink: Option<Vec<Spanned<SinkConfig>>>,
    #[serde(default)]
    script: ScriptConfig,
}

/// A `[[group]]` table as read, with the span of each CIDR so that a bad one is reported
/// where it is written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroupSpec {
    name: String,
    #[serde(default)]
    groups: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl Config {
    /// Read and check a file (and the group files it names, relative to its directory).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_scripts(path, false)
    }

    /// [`Config::load`]; `scripts` says that the command line names scripts, so the file
    /// gets no default flow or sink.
    pub fn load_with_scripts(path: &Path, scripts: bool) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse_with_scripts(&src, &origin, path.parent(), scripts)
    }

    /// Parse and check TOML text; `origin` names it in errors. Relative group files are
    /// relative to the working directory.
    pub fn parse(src: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse_with_scripts(src, origin, None, false)
    }

    /// [`Config::parse`] with relative group files relative to `base`.
    pub fn parse_in(src: &str, origin: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        Config::parse_with_scripts(src, origin, base, false)
    }

    /// [`Config::parse_in`]; `scripts` says that the command line names scripts, so the
    /// text gets no default flow or sink.
    pub fn parse_with_scripts(
        src: &str,
        origin: &str,
        base: Option<&Path>,
        scripts: bool,
    ) -> Result<Config, ConfigError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_col(src, s.start));
            ConfigError {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig =
            toml::from_str(src).map_err(|e| at(e.span(), e.message().trim().to_string()))?;
        let scripted = scripts || !raw.script.is_empty();

        let mut groups = Vec::with_capacity(raw.group.len());
        let mut group_sets = Groups::default();
        for g in raw.group {
            let span = g.span();
            let g = g.into_inner();
            if groups.iter().any(|o: &GroupSpec| o.name == g.name) {
                return Err(at(
                    Some(span),
                    format!("group set '{}' is defined twice", g.name),
                ));
            }
            let mut map = BTreeMap::new();
            for (group, cidrs) in g.groups {
                let mut list = Vec::with_capacity(cidrs.len());
                for c in cidrs {
                    parse_cidr(c.get_ref()).map_err(|m| {
                        at(
                            Some(c.span()),
                            format!("group set '{}', group '{group}': {m}", g.name),
                        )
                    })?;
                    list.push(c.into_inner());
                }
                map.insert(group, list);
            }
            let spec = GroupSpec {
                name: g.name,
                groups: map,
                file: g.file,
            };
            let set = spec.load(base).map_err(|e| match e {
                GroupError::File {
                    path,
                    line,
                    message,
                } => ConfigError {
                    origin: path,
                    line,
                    column: 1,
                    message,
                },
                other => at(Some(span.clone()), other.to_string()),
            })?;
            group_sets.insert(set);
            groups.push(spec);
        }

        let flow_spans: Vec<Range<usize>>;
        let flows: Vec<FlowSpec> = match raw.flow {
            Some(list) => {
                flow_spans = list.iter().map(Spanned::span).collect();
                list.into_iter().map(Spanned::into_inner).collect()
            }
            None => {
                flow_spans = Vec::new();
                if scripted {
                    Vec::new()
                } else {
                    default_specs()
                }
            }
        };
        if flows.is_empty() && !scripted {
            return Err(at(
                None,
                "no [[flow]] definition: at least one is needed".into(),
            ));
        }
        // Check one by one first, so an error points at the table that caused it.
        for (i, spec) in flows.iter().enumerate() {
            if let Err(e) = FlowDefinition::from_spec_in(spec, &group_sets) {
                let mut message = e.to_string();
                if matches!(e, DefinitionError::UnknownKey { .. }) {
                    let keys: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
                    message.push_str(&format!("; valid keys: {}", keys.join(", ")));
                }
                return Err(at(flow_spans.get(i).cloned(), message));
            }
            if flows[..i].iter().any(|o| o.name == spec.name) {
                return Err(at(
                    flow_spans.get(i).cloned(),
                    format!("flow '{}' is defined twice", spec.name),
                ));
            }
        }
        FlowDefinitions::from_specs_in(&flows, &group_sets).map_err(|e| at(None, e.to_string()))?;

        let threshold_spans: Vec<Range<usize>> = raw.threshold.iter().map(Spanned::span).collect();
        let thresholds: Vec<ThresholdSpec> =
            raw.threshold.into_iter().map(Spanned::into_inner).collect();
        crate::threshold::check_all(&thresholds, &flow_bounds(&flows, &group_sets))
            .map_err(|(i, m)| at(threshold_spans.get(i).cloned(), m))?;

        let mut names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
        names.extend(thresholds.iter().map(|t| t.name.as_str()));
        let sinks: Vec<SinkConfig> = match raw.sink {
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for s in list {
                    let span = s.span();
                    let s = s.into_inner();
                    let checked = if scripted {
                        // Names the scripts define are checked once they have loaded.
                        SinkConfig {
                            flows: Vec::new(),
                            ..s.clone()
                        }
                        .validate(&[])
                    } else {
                        s.validate(&names)
                    };
                    checked.map_err(|m| at(Some(span.clone()), m))?;
                    if out.iter().any(|o: &SinkConfig| o.name == s.name) {
                        return Err(at(
                            Some(span),
                            format!(
                                "sink name '{}' is used twice; give each [[sink]] a distinct name",
                                s.name
                            ),
                        ));
                    }
                    out.push(s);
                }
                out
            }
            None if scripted => Vec::new(),
            None => default_sinks(),
        };
        let config = Config {
            rx: raw.rx,
            workers: raw.workers,
            stats: raw.stats,
            shutdown: raw.shutdown,
            scheduler: raw.scheduler,
            metrics: raw.metrics,
            groups,
            group_sets,
            flows,
            thresholds,
            sinks,
            script: raw.script,
        };
        config.check_scripted(scripted).map_err(|m| at(None, m))?;
        Ok(config)
    }
}
