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
//! listening on port 6343.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::flow::{default_specs, DefinitionError, FlowDefinition, FlowDefinitions, FlowSpec};
use crate::groups::{parse_cidr, GroupError, GroupSpec, Groups};
use crate::packet::Key;
use crate::rx::RxConfig;
use crate::sink::config::HostName;
use crate::sink::SinkConfig;
use crate::threshold::{Threshold, ThresholdSpec};

/// A configuration error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `<command line>` / `<embedded default>`.
    pub origin: String,
    /// 1-based; 0 when the error has no position (an unreadable file).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.origin, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// `[workers]`: the flow engine's threads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// Flow worker threads; flows are sharded over them by hash.
    #[serde(default = "default_worker_count")]
    pub count: NonZeroUsize,
    /// Cores to pin worker `i` to (`cores[i]`); missing entries stay unpinned.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Events each worker may hold for the syslog sender before it drops (and counts) them.
    #[serde(default = "default_event_queue")]
    pub event_queue: NonZeroUsize,
}

fn default_worker_count() -> NonZeroUsize {
    NonZeroUsize::MIN
}
fn default_event_queue() -> NonZeroUsize {
    NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            count: default_worker_count(),
            cores: Vec::new(),
            event_queue: default_event_queue(),
        }
    }
}

/// `[stats]`: the periodic line on stderr.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsConfig {
    /// Seconds between stats lines; 0 turns them off (the final report is always printed).
    #[serde(default = "default_stats_interval")]
    pub interval_s: u64,
    /// The final report lists every agent and every sender of bad datagrams (true), or the
    /// totals and at most 20 of the agents with loss or restarts (false, the default: a
    /// fabric of thousands of agents would bury the totals).
    #[serde(default)]
    pub report_agents: bool,
}

fn default_stats_interval() -> u64 {
    10
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            interval_s: default_stats_interval(),
            report_agents: false,
        }
    }
}

/// `[shutdown]`: what SIGTERM/SIGINT may cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Longest time, in milliseconds, to deliver queued events after the receivers stop;
    /// what is still queued then is dropped and counted.
    #[serde(default = "default_shutdown_timeout")]
    pub timeout_ms: u64,
}

fn default_shutdown_timeout() -> u64 {
    5_000
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout_ms: default_shutdown_timeout(),
        }
    }
}

/// `[metrics]`: the Prometheus endpoint ([`crate::metrics`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint serving `GET /metrics` (e.g. `127.0.0.1:9343`); none:
    /// no endpoint. It binds only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
    /// Most fabric interface series (`sflow_*`, one per agent, interface and counter)
    /// kept; samples of interfaces beyond are counted, not exported.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_max_series() -> usize {
    100_000
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            max_series: default_max_series(),
        }
    }
}

/// `[scheduler]`: what the pipeline asks of the kernel's scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// The EEVDF slice, in microseconds, that the threads which sleep between items (flow
    /// workers, syslog senders) request, so that their wake-ups preempt longer-slice tasks
    /// at once instead of waiting up to a scheduler tick ([`crate::sched`]); 0 keeps the
    /// kernel default. The kernel accepts 100 to 100 000 (Linux 6.12 and later; older
    /// kernels ignore it).
    #[serde(default = "default_slice_us")]
    pub slice_us: u64,
}

fn default_slice_us() -> u64 {
    100
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            slice_us: default_slice_us(),
        }
    }
}

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
    #[serde(rename = "sink", default = "default_sinks")]
    pub sinks: Vec<SinkConfig>,
}

fn default_sinks() -> Vec<SinkConfig> {
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
        }
    }
}

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
}

/// Each flow's name and `maxEntries` (what a threshold's metric is checked against); a
/// spec that does not validate counts with the default bound (its own error comes first).
fn flow_bounds<'a>(flows: &'a [FlowSpec], groups: &Groups) -> Vec<(&'a str, usize)> {
    flows
        .iter()
        .map(|f| {
            let max = FlowDefinition::from_spec_in(f, groups).map_or(100_000, |d| d.max_entries);
            (f.name.as_str(), max)
        })
        .collect()
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

/// 1-based line and column (in characters) of byte `offset` of `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl Config {
    /// The embedded default (the seed script's behaviour).
    pub fn embedded() -> Config {
        Config::default()
    }

    /// Read and check a file (and the group files it names, relative to its directory).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse_in(&src, &origin, path.parent())
    }

    /// Parse and check TOML text; `origin` names it in errors. Relative group files are
    /// relative to the working directory.
    pub fn parse(src: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse_in(src, origin, None)
    }

    /// [`Config::parse`] with relative group files relative to `base`.
    pub fn parse_in(src: &str, origin: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
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
                default_specs()
            }
        };
        if flows.is_empty() {
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
                    s.validate(&names).map_err(|m| at(Some(span.clone()), m))?;
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
        };
        config.check().map_err(|m| at(None, m))?;
        Ok(config)
    }

    /// Whole-configuration checks, also run after command-line overrides.
    pub fn check(&self) -> Result<(), String> {
        if self.rx.listen.is_empty() {
            return Err("rx.listen is empty: give at least one address to listen on".into());
        }
        if self.sinks.is_empty() {
            return Err("no [[sink]]: events would go nowhere".into());
        }
        let mut names: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
        names.extend(self.thresholds.iter().map(|t| t.name.as_str()));
        for s in &self.sinks {
            s.validate(&names)?;
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
            if !taken {
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
            if log && !taken {
                out.push(format!("flow '{}' is taken by no [[sink]]", f.name));
            }
        }
        out
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::config::Transport;

    fn err(src: &str) -> ConfigError {
        Config::parse(src, "test.toml").unwrap_err()
    }

    #[test]
    fn empty_file_is_the_seed() {
        let c = Config::parse("", "x").unwrap();
        assert_eq!(c, Config::embedded());
        assert_eq!(c.flows.len(), 1);
        assert_eq!(c.flows[0].name, "uport");
        assert_eq!(c.sinks.len(), 1);
        let s = &c.sinks[0];
        assert_eq!(s.transport, Transport::Udp);
        assert_eq!(s.address.to_string(), "127.0.0.1:514");
        assert_eq!((s.facility.0, s.severity.0), (16, 5));
        assert!(c.rx.listen.iter().all(|a| a.port() == 6343));
    }

    #[test]
    fn printed_configuration_parses_back_to_itself() {
        let src = r#"
[rx]
listen = ["127.0.0.1:9999"]
[workers]
count = 2
[[flow]]
name = "uport"
[[flow]]
name = "ssh"
keys = "ipsource,ipdestination"
filter = "ipprotocol=6&tcpdestinationport=22"
log = true
[[sink]]
name = "a"
flows = ["ssh"]
[[sink]]
name = "b"
transport = "tls"
address = "siem.example:6514"
format = "rfc5424"
[sink.tls]
ca_file = "/etc/ssl/ca.pem"
"#;
        let c = Config::parse(src, "x").unwrap();
        let printed = c.to_toml();
        let back = Config::parse(&printed, "printed").unwrap();
        assert_eq!(c.effective(), back, "{printed}");
        assert_eq!(back.effective(), back, "{printed}");
        // Every default is written out.
        for attr in [
            "activeTimeout = 60",
            "idleTimeout = 60",
            "maxEntries = 100000",
            "scope = \"agent\"",
            "fs = \",\"",
            "flowStart = true",
            "hostname = ",
        ] {
            assert!(printed.contains(attr), "{attr} missing from\n{printed}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_position_and_alternatives() {
        let e = err("[rx]\nlisten = [\"0.0.0.0:6343\"]\n\n[workers]\ncuont = 2\n");
        assert_eq!((e.line, e.column), (5, 1), "{e}");
        assert!(e.message.contains("unknown field `cuont`"), "{e}");
        assert!(e.message.contains("count"), "{e}");
        assert!(e.to_string().starts_with("test.toml:5:1: "), "{e}");

        let e = err("[[sink]]\nname = \"x\"\nformat = \"cef\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("sflow-rt"), "{e}");

        let e = err("bogus = 1\n");
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.contains("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn table_level_errors_point_at_the_table() {
        let e = err(
            "[[flow]]\nname = \"uport\"\n\n[[flow]]\nname = \"x\"\nkeys = \"ipsource,nosuchkey\"\n",
        );
        // The span of an array-of-tables entry starts at its `[[flow]]` header.
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("nosuchkey"), "{e}");
        assert!(e.message.contains("valid keys: agent,"), "{e}");

        let e = err("[[sink]]\nname = \"a\"\n\n[[sink]]\nname = \"b\"\nflows = [\"nope\"]\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("defined flows: uport"), "{e}");

        let e = err("[[sink]]\nname = \"a\"\n[[sink]]\nname = \"a\"\n");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn thresholds_are_checked_with_positions() {
        let ok = Config::parse(
            "[[flow]]\nname = \"udpflood\"\nkeys = \"ipdestination\"\n\n\
             [[threshold]]\nname = \"udpflood\"\nmetric = \"udpflood\"\nvalue = 100000\n\
             byFlow = true\n\n[[sink]]\nflows = [\"udpflood\"]\n",
            "x",
        )
        .unwrap();
        let t = ok.thresholds().unwrap();
        assert_eq!((t.len(), t[0].by_flow, t[0].timeout_ms), (1, true, 60_000));
        let defs = ok.definitions(&t).unwrap();
        assert_eq!(defs.as_slice()[0].thresholds.len(), 1);
        // The effective configuration prints every attribute and parses back.
        let printed = ok.to_toml();
        assert!(
            printed.contains("timeout = 60") && printed.contains("end = false"),
            "{printed}"
        );
        assert_eq!(
            Config::parse(&printed, "p").unwrap().thresholds,
            ok.thresholds
        );

        let e = err("[[flow]]\nname = \"uport\"\n\n[[threshold]]\nname = \"t\"\nmetric = \"nope\"\nvalue = 1\n");
        assert_eq!((e.line, e.column), (4, 1), "{e}");
        assert!(e.message.contains("unknown metric 'nope'"), "{e}");
        assert!(e.message.contains("ifinutilization"), "{e}");
        let e = err("[[threshold]]\nname = \"t\"\nmetric = \"uport\"\nvalue = 1\nbyflow = true\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("unknown field `byflow`"), "{e}");
        let e = err("[[threshold]]\nname = \"t\"\nmetric = \"uport\"\n");
        assert!(e.message.contains("value"), "{e}");
        // A sink may name a threshold; not an undefined one.
        let e = err("[[threshold]]\nname = \"t\"\nmetric = \"ifinerrors\"\nvalue = 1\n[[sink]]\nflows = [\"u\"]\n");
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn value_errors_have_positions() {
        let e = err("[[sink]]\n  facility = 99\n");
        assert_eq!((e.line, e.column), (2, 14), "{e}");
        assert!(e.message.contains("0..=23"), "{e}");
        let e = err("[[sink]]\naddress = \"nohost\"\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("HOST:PORT"), "{e}");
    }

    #[test]
    fn warnings_for_silent_flows() {
        let c = Config::parse(
            "[[flow]]\nname = \"quiet\"\nkeys = \"ipsource\"\n[[flow]]\nname = \"uport\"\n[[sink]]\nflows = [\"quiet\"]\n",
            "x",
        )
        .unwrap();
        let w = c.warnings();
        assert!(
            w.iter().any(|m| m.contains("'quiet' has log = false")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("'uport' is taken by no")),
            "{w:?}"
        );
    }

    #[test]
    fn mangled_files_are_errors_never_panics() {
        // Cut and corrupt the example file in many places: every outcome must be a value
        // or a positioned error (parse runs on untrusted operator input).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/flowsift.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let bytes = text.as_bytes();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const NOISE: &[u8] = b"=[]\"'#\n ,.{}0-9azZ\\\t\x00\xff";
        for round in 0..600 {
            let mut m = bytes.to_vec();
            match round % 3 {
                0 => m.truncate(next() as usize % bytes.len()),
                1 => {
                    for _ in 0..(1 + next() % 4) {
                        let at = next() as usize % m.len();
                        m[at] = NOISE[next() as usize % NOISE.len()];
                    }
                }
                _ => {
                    let at = next() as usize % m.len();
                    let len = (next() as usize % 40).min(m.len() - at);
                    m.drain(at..at + len);
                }
            }
            let src = String::from_utf8_lossy(&m);
            if let Err(e) = Config::parse(&src, "mangled.toml") {
                let lines = src.lines().count().max(1);
                assert!(e.line <= lines + 1, "{e} (of {lines} lines)");
            }
        }
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("ab\ncé\nx", 0), (1, 1));
        assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncé\nx", 100), (3, 2));
    }

    #[test]
    fn example_file_is_valid_and_equals_the_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/flowsift.toml");
        let c = Config::load(Path::new(path)).unwrap();
        assert_eq!(
            c,
            Config::embedded(),
            "every value in the example is the default"
        );
        // ... and it mentions every option (set, or commented out for optional ones), so a
        // new option without an example line fails here.
        let text = std::fs::read_to_string(path).unwrap();
        let mentions = |key: &str| {
            text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            })
        };
        let mut every = Config::embedded();
        every.sinks[0].hostname = Some(crate::sink::config::HostName("h".into()));
        every.sinks[0].tls = Some(crate::sink::config::TlsConfig {
            ca_file: Some("a".into()),
            cert_file: Some("b".into()),
            key_file: Some("c".into()),
            server_name: Some("d".into()),
        });
        let table: toml::Table = toml::from_str(&every.to_toml()).unwrap();
        let mut missing = Vec::new();
        let mut flow_keys = vec![
            "filter",
            "fs",
            "activeTimeout",
            "idleTimeout",
            "maxEntries",
            "scope",
            "n",
            "t",
        ];
        flow_keys.retain(|k| !mentions(k));
        missing.extend(flow_keys.iter().map(|k| format!("flow.{k}")));
        fn walk(
            prefix: &str,
            v: &toml::Value,
            mentions: &dyn Fn(&str) -> bool,
            missing: &mut Vec<String>,
        ) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        if !v.is_table() && !v.is_array()
                            || v.as_array()
                                .is_some_and(|a| !a.iter().any(toml::Value::is_table))
                        {
                            if !mentions(k) {
                                missing.push(format!("{prefix}{k}"));
                            }
                        } else {
                            walk(&format!("{prefix}{k}."), v, mentions, missing);
                        }
                    }
                }
                toml::Value::Array(a) => a.iter().for_each(|v| walk(prefix, v, mentions, missing)),
                _ => {}
            }
        }
        walk("", &toml::Value::Table(table), &mentions, &mut missing);
        assert!(
            missing.is_empty(),
            "options without an example line: {missing:?}"
        );
    }
}
