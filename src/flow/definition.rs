//! Flow definitions: sFlow-RT's `setFlow` attributes plus flowsift's bounds.
//!
//! Two layers, as the configuration flows: [`FlowSpec`] is what a `[[flow]]` table in the
//! configuration file deserializes into (sFlow-RT attribute spellings, every attribute
//! optional), and [`FlowDefinition`] is the validated form the engine runs (keys resolved,
//! filter compiled, defaults applied). A spec without `keys` names a built-in definition
//! (`uport`, `unet`, `uhost`, `uproto`, `uport6`, `tenantuport`) and takes its attributes,
//! overridden by any given.
//!
//! Defaults and why:
//! - `scope = "agent"`: sFlow-RT keeps a flow per (definition, agent, data source), and
//!   flowsift is a drop-in replacement, so a SIEM rule tuned on sFlow-RT events sees the
//!   same events. `fabric` (one flow across all agents: a scan seen by ten switches is one
//!   event) is a deliberate opt-in.
//! - `idleTimeout = 60` s: equal to sFlow-RT's default `activeTimeout`, so with
//!   `flowStart` a key still being seen is reported at most once a minute per scope, a
//!   repeat after a quiet minute is news again, and an idle flow's end record comes at
//!   most a minute (plus a one-second sweep) after its last sample.
//! - `maxEntries = 100000` per definition (split across workers): at about 100 bytes per
//!   entry this bounds a definition near 10 MB, enough for a full /16 scan's answers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::filter::{Filter, FilterError};
use super::group::{is_function, FlowKey, GroupKey, GROUP_BYTES};
use super::key::{key_bit, packed_bytes, required_keys, MAX_KEYS, MAX_KEY_BYTES};
use crate::groups::Groups;
use crate::packet::Key;
use crate::threshold::{Metric, Threshold};

/// Most definitions the engine runs at once: a work item carries them as a 64-bit mask.
pub const MAX_DEFINITIONS: usize = 64;

/// Keys as a comma-separated string (`"ipsource,ipdestination"`) or a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    Text(String),
    List(Vec<String>),
}

/// What a flow counts, scaled by the sampling rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// Each sample stands for `sampling_rate` frames.
    Frames,
    /// Each sample stands for `frame_length × sampling_rate` bytes.
    Bytes,
}

/// Whose samples share a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A flow per (agent, data source), as sFlow-RT does.
    Agent,
    /// One flow across every agent and data source.
    Fabric,
}

/// One `[[flow]]` table of the configuration, in sFlow-RT's attribute spellings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Definition name, used in events (`name`) and statistics.
    pub name: String,
    /// Flow keys, comma-separated or a list (`ipsource,ipdestination,icmpunreachableport`);
    /// a key may be the key function `group:KEY:SET` (the address group, [`super::group`]).
    /// Omitted: `name` must be a built-in definition, whose attributes are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyList>,
    /// `frames` or `bytes` (default `frames`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueKind>,
    /// Filter expression over keys, e.g. `ipprotocol=6&tcpdestinationport=22,23`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Separator joining the key values into `flowKeys` (default `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<String>,
    /// Deliver this definition's records to the sinks (default false, as in sFlow-RT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
    /// One record when a key is first seen (true), or records at flow end and every
    /// `activeTimeout` (false, the default).
    #[serde(default, rename = "flowStart", skip_serializing_if = "Option::is_none")]
    pub flow_start: Option<bool>,
    /// Seconds between records of a long-lived flow when `flowStart` is false (default 60).
    #[serde(
        default,
        rename = "activeTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_timeout: Option<u64>,
    /// sFlow-RT's top-N size for its active-flow view (default 5). Accepted for
    /// compatibility; flowsift has no top-N view and does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// sFlow-RT's rate smoothing in seconds (default 2, clamped to 0.2..600): the time
    /// constant of the smoothed rate a `[[threshold]]` on this definition watches.
    /// Records carry exact sums, not smoothed rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// Most flows this definition tracks at once, across all workers (default 100000).
    /// When full, the least recently seen flows are evicted.
    #[serde(
        default,
        rename = "maxEntries",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_entries: Option<usize>,
    /// Seconds without samples after which a flow ends (default 60); with `flowStart`,
    /// the key may then fire again.
    #[serde(
        default,
        rename = "idleTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<u64>,
    /// `agent` (a flow per agent and data source, the default, as sFlow-RT) or `fabric`
    /// (one flow across all agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

fn default_value() -> ValueKind {
    ValueKind::Frames
}
fn default_fs() -> String {
    ",".to_owned()
}
fn default_log() -> bool {
    false
}
fn default_flow_start() -> bool {
    false
}
fn default_active_timeout() -> u64 {
    60
}
fn default_n() -> u32 {
    5
}
fn default_t() -> f64 {
    2.0
}
fn default_max_entries() -> usize {
    100_000
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_scope() -> Scope {
    Scope::Agent
}

/// The spec's attribute when given, else the base's.
fn pick<T: Clone>(given: &Option<T>, base: &Option<T>) -> Option<T> {
    given.clone().or_else(|| base.clone())
}

/// Names of the built-in definitions.
pub const BUILTIN_NAMES: [&str; 6] = ["uport", "unet", "uhost", "uproto", "uport6", "tenantuport"];

/// A built-in definition's spec: the seed's `uport`, its net, host and protocol
/// unreachable variants (ICMP codes 0, 1 and 2), and `uport6`, the IPv6 port-unreachable
/// equivalent (ICMPv6 type 1 code 4, over `ip6source`/`ip6destination`; `ipsource` and
/// `ipdestination` are IPv4 only, so `uport` never matches IPv6 samples); and
/// `tenantuport`, `uport` inside the first tunnel (the `.1` keys: scans inside a VXLAN,
/// Geneve, GRE or IP-in-IP overlay), off unless named. `uport` stays outer-only, as in
/// sFlow-RT.
pub fn builtin(name: &str) -> Option<FlowSpec> {
    let keys = match name {
        "uport" => "ipsource,ipdestination,icmpunreachableport",
        "unet" => "ipsource,ipdestination,icmpunreachablenet",
        "uhost" => "ipsource,ipdestination,icmpunreachablehost",
        "uproto" => "ipsource,ipdestination,icmpunreachableprotocol",
        "uport6" => "ip6source,ip6destination,icmpunreachableport",
        "tenantuport" => "ipsource.1,ipdestination.1,icmpunreachableport.1",
        _ => return None,
    };
    Some(FlowSpec {
        name: name.to_owned(),
        keys: Some(KeyList::Text(keys.to_owned())),
        value: Some(ValueKind::Frames),
        log: Some(true),
        flow_start: Some(true),
        ..FlowSpec::default()
    })
}

/// The definitions on when the configuration names none: the seed's `uport`.
pub fn default_specs() -> Vec<FlowSpec> {
    builtin("uport").into_iter().collect()
}

/// Why a spec is not a valid definition; the message names the definition.
#[derive(Clone, Debug, PartialEq)]
pub enum DefinitionError {
    EmptyName,
    NoKeys {
        name: String,
    },
    UnknownKey {
        name: String,
        key: String,
    },
    TooManyKeys {
        name: String,
        count: usize,
    },
    KeysTooWide {
        name: String,
        bytes: usize,
    },
    DuplicateKey {
        name: String,
        key: FlowKey,
    },
    /// A key function (`group:KEY:SET`) that does not apply.
    KeyFunction {
        name: String,
        message: String,
    },
    Filter {
        name: String,
        error: FilterError,
    },
    Zero {
        name: String,
        attribute: &'static str,
    },
    DuplicateName {
        name: String,
    },
    TooMany {
        count: usize,
    },
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefinitionError::EmptyName => write!(f, "flow definition without a name"),
            DefinitionError::NoKeys { name } => write!(
                f,
                "flow '{name}': no keys (only built-in definitions {BUILTIN_NAMES:?} may omit them)"
            ),
            DefinitionError::UnknownKey { name, key } => {
                write!(f, "flow '{name}': unknown key '{key}'")
            }
            DefinitionError::TooManyKeys { name, count } => write!(
                f,
                "flow '{name}': {count} keys, at most {MAX_KEYS} are supported"
            ),
            DefinitionError::KeysTooWide { name, bytes } => write!(
                f,
                "flow '{name}': keys take {bytes} bytes packed, at most {MAX_KEY_BYTES} are supported"
            ),
            DefinitionError::DuplicateKey { name, key } => {
                write!(f, "flow '{name}': key '{key}' given twice")
            }
            DefinitionError::KeyFunction { name, message } => {
                write!(f, "flow '{name}': key {message}")
            }
            DefinitionError::Filter { name, error } => {
                write!(f, "flow '{name}': filter {error}")
            }
            DefinitionError::Zero { name, attribute } => {
                write!(f, "flow '{name}': {attribute} must be greater than 0")
            }
            DefinitionError::DuplicateName { name } => {
                write!(f, "flow '{name}' is defined twice")
            }
            DefinitionError::TooMany { count } => write!(
                f,
                "{count} flow definitions, at most {MAX_DEFINITIONS} are supported"
            ),
        }
    }
}

impl std::error::Error for DefinitionError {}

/// A validated flow definition, as the engine runs it.
#[derive(Clone, Debug)]
pub struct FlowDefinition {
    pub name: Arc<str>,
    /// The keys the sample carries, in definition order: packed first.
    pub keys: Box<[Key]>,
    /// The group key functions, in definition order: packed after `keys`
    /// ([`super::group::pack_groups`]). Empty for most definitions.
    pub groups: Box<[GroupKey]>,
    /// Every key in the definition's order (events list them so).
    pub columns: Box<[FlowKey]>,
    pub value: ValueKind,
    pub filter: Option<Filter>,
    pub separator: Arc<str>,
    pub log: bool,
    pub flow_start: bool,
    pub active_timeout_ms: u64,
    pub n: u32,
    pub t: f64,
    pub max_entries: usize,
    pub idle_timeout_ms: u64,
    pub scope: Scope,
    /// Words the packed keys take in a table entry.
    pub key_words: usize,
    /// The `[[threshold]]`s on this definition's flows, in configuration order (none:
    /// its flows keep no rate).
    pub thresholds: Arc<[Threshold]>,
}

impl FlowDefinition {
    /// Validate a spec with no group sets defined (a `group:` key is an error).
    pub fn from_spec(spec: &FlowSpec) -> Result<FlowDefinition, DefinitionError> {
        FlowDefinition::from_spec_in(spec, &Groups::default())
    }

    /// Validate a spec, applying the built-in's attributes when it has no keys; `group:`
    /// keys and filter terms resolve their sets in `groups`.
    pub fn from_spec_in(
        spec: &FlowSpec,
        groups: &Groups,
    ) -> Result<FlowDefinition, DefinitionError> {
        let name = spec.name.trim();
        if name.is_empty() {
            return Err(DefinitionError::EmptyName);
        }
        let base = match &spec.keys {
            Some(_) => FlowSpec::default(),
            None => builtin(name).ok_or_else(|| DefinitionError::NoKeys {
                name: name.to_owned(),
            })?,
        };
        let key_list = pick(&spec.keys, &base.keys).ok_or_else(|| DefinitionError::NoKeys {
            name: name.to_owned(),
        })?;
        let names: Vec<String> = match key_list {
            KeyList::Text(t) => t.split(',').map(|s| s.trim().to_owned()).collect(),
            KeyList::List(l) => l.into_iter().map(|s| s.trim().to_owned()).collect(),
        };
        let names: Vec<String> = names.into_iter().filter(|s| !s.is_empty()).collect();
        if names.is_empty() {
            return Err(DefinitionError::NoKeys {
                name: name.to_owned(),
            });
        }
        if names.len() > MAX_KEYS {
            return Err(DefinitionError::TooManyKeys {
                name: name.to_owned(),
                count: names.len(),
            });
        }
        let mut keys = Vec::with_capacity(names.len());
        let mut group_keys: Vec<GroupKey> = Vec::new();
        let mut columns: Vec<FlowKey> = Vec::with_capacity(names.len());
        for k in &names {
            let column = if is_function(k) {
                let g =
                    GroupKey::parse(k, groups).map_err(|message| DefinitionError::KeyFunction {
                        name: name.to_owned(),
                        message,
                    })?;
                let c = FlowKey::Group(g.text);
                group_keys.push(g);
                c
            } else {
                let key = Key::from_name(k).ok_or_else(|| DefinitionError::UnknownKey {
                    name: name.to_owned(),
                    key: k.clone(),
                })?;
                keys.push(key);
                FlowKey::Packet(key)
            };
            if columns.contains(&column) {
                return Err(DefinitionError::DuplicateKey {
                    name: name.to_owned(),
                    key: column,
                });
            }
            columns.push(column);
        }
        let bytes = packed_bytes(&keys) + GROUP_BYTES * group_keys.len();
        if bytes > MAX_KEY_BYTES {
            return Err(DefinitionError::KeysTooWide {
                name: name.to_owned(),
                bytes,
            });
        }
        let filter = match pick(&spec.filter, &base.filter) {
            Some(text) if !text.trim().is_empty() => Some(
                Filter::parse_in(&text, groups).map_err(|error| DefinitionError::Filter {
                    name: name.to_owned(),
                    error,
                })?,
            ),
            _ => None,
        };
        let zero = |attribute| DefinitionError::Zero {
            name: name.to_owned(),
            attribute,
        };
        let active =
            pick(&spec.active_timeout, &base.active_timeout).unwrap_or_else(default_active_timeout);
        let idle =
            pick(&spec.idle_timeout, &base.idle_timeout).unwrap_or_else(default_idle_timeout);
        let max_entries =
            pick(&spec.max_entries, &base.max_entries).unwrap_or_else(default_max_entries);
        if active == 0 {
            return Err(zero("activeTimeout"));
        }
        if idle == 0 {
            return Err(zero("idleTimeout"));
        }
        if max_entries == 0 {
            return Err(zero("maxEntries"));
        }
        let key_words = bytes.div_ceil(8);
        Ok(FlowDefinition {
            name: name.into(),
            keys: keys.into_boxed_slice(),
            groups: group_keys.into_boxed_slice(),
            columns: columns.into_boxed_slice(),
            value: pick(&spec.value, &base.value).unwrap_or_else(default_value),
            filter,
            separator: pick(&spec.fs, &base.fs).unwrap_or_else(default_fs).into(),
            log: pick(&spec.log, &base.log).unwrap_or_else(default_log),
            flow_start: pick(&spec.flow_start, &base.flow_start).unwrap_or_else(default_flow_start),
            active_timeout_ms: active.saturating_mul(1000),
            n: pick(&spec.n, &base.n).unwrap_or_else(default_n),
            t: pick(&spec.t, &base.t).unwrap_or_else(default_t),
            max_entries,
            idle_timeout_ms: idle.saturating_mul(1000),
            scope: pick(&spec.scope, &base.scope).unwrap_or_else(default_scope),
            key_words,
            thresholds: Arc::new([]),
        })
    }

    /// This definition with the thresholds among `all` that watch it.
    pub fn with_thresholds(mut self, all: &[Threshold]) -> FlowDefinition {
        self.thresholds = all
            .iter()
            .filter(|t| matches!(&t.metric, Metric::Flow(f) if *f == self.name))
            .cloned()
            .collect();
        self
    }

    /// Bytes the packed key takes: the packet keys, then the group keys.
    pub fn packed_bytes(&self) -> usize {
        packed_bytes(&self.keys) + GROUP_BYTES * self.groups.len()
    }

    /// The presence mask a sample needs ([`super::key::present_keys`]): every packet key
    /// and every group key's address key.
    pub fn required_keys(&self) -> u128 {
        self.groups
            .iter()
            .fold(required_keys(&self.keys), |m, g| m | key_bit(g.address))
    }

    /// The effective spec, every attribute filled in (for `check-config`).
    pub fn spec(&self) -> FlowSpec {
        FlowSpec {
            name: self.name.to_string(),
            keys: Some(KeyList::Text(
                self.columns
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            value: Some(self.value),
            filter: self.filter.as_ref().map(|f| f.text().to_owned()),
            fs: Some(self.separator.to_string()),
            log: Some(self.log),
            flow_start: Some(self.flow_start),
            active_timeout: Some(self.active_timeout_ms / 1000),
            n: Some(self.n),
            t: Some(self.t),
            max_entries: Some(self.max_entries),
            idle_timeout: Some(self.idle_timeout_ms / 1000),
            scope: Some(self.scope),
        }
    }
}

/// The set of definitions the engine runs; definition `i` is bit `i` of a work item's mask.
#[derive(Clone, Debug)]
pub struct FlowDefinitions {
    defs: Arc<[FlowDefinition]>,
}

impl FlowDefinitions {
    /// Check the set: at most [`MAX_DEFINITIONS`], names unique.
    pub fn new(defs: Vec<FlowDefinition>) -> Result<FlowDefinitions, DefinitionError> {
        if defs.len() > MAX_DEFINITIONS {
            return Err(DefinitionError::TooMany { count: defs.len() });
        }
        for (i, d) in defs.iter().enumerate() {
            if defs[..i].iter().any(|o| o.name == d.name) {
                return Err(DefinitionError::DuplicateName {
                    name: d.name.to_string(),
                });
            }
        }
        Ok(FlowDefinitions { defs: defs.into() })
    }

    /// Definitions by slot, as a reload lays them out: a retired slot keeps its old
    /// definition (nothing is routed to it), so a name may appear twice when a changed
    /// definition took a new slot. At most [`MAX_DEFINITIONS`].
    pub fn slots(defs: Vec<FlowDefinition>) -> Result<FlowDefinitions, DefinitionError> {
        if defs.len() > MAX_DEFINITIONS {
            return Err(DefinitionError::TooMany { count: defs.len() });
        }
        Ok(FlowDefinitions { defs: defs.into() })
    }

    /// Validate every spec, then the set (no group sets defined).
    pub fn from_specs(specs: &[FlowSpec]) -> Result<FlowDefinitions, DefinitionError> {
        FlowDefinitions::build(specs, &Groups::default(), &[])
    }

    /// [`FlowDefinitions::from_specs`], the keys' group functions over `groups`.
    pub fn from_specs_in(
        specs: &[FlowSpec],
        groups: &Groups,
    ) -> Result<FlowDefinitions, DefinitionError> {
        FlowDefinitions::build(specs, groups, &[])
    }

    /// [`FlowDefinitions::from_specs`], each definition with the thresholds among
    /// `thresholds` that watch it.
    pub fn with_thresholds(
        specs: &[FlowSpec],
        thresholds: &[Threshold],
    ) -> Result<FlowDefinitions, DefinitionError> {
        FlowDefinitions::build(specs, &Groups::default(), thresholds)
    }

    /// Validate every spec against `groups` (for `group:` keys), each definition with the
    /// thresholds among `thresholds` that watch it, then the set.
    pub fn build(
        specs: &[FlowSpec],
        groups: &Groups,
        thresholds: &[Threshold],
    ) -> Result<FlowDefinitions, DefinitionError> {
        let defs = specs
            .iter()
            .map(|s| FlowDefinition::from_spec_in(s, groups).map(|d| d.with_thresholds(thresholds)))
            .collect::<Result<Vec<_>, _>>()?;
        FlowDefinitions::new(defs)
    }

    pub fn as_slice(&self) -> &[FlowDefinition] {
        &self.defs
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> Result<FlowSpec, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn seed_definition_from_toml() {
        let s = spec(
            r#"name = "uport"
               keys = "ipsource,ipdestination,icmpunreachableport"
               value = "frames"
               log = true
               flowStart = true"#,
        )
        .unwrap();
        let d = FlowDefinition::from_spec(&s).unwrap();
        assert_eq!(
            &d.keys[..],
            &[Key::IpSource, Key::IpDestination, Key::IcmpUnreachablePort]
        );
        assert!(d.log && d.flow_start);
        assert_eq!(d.value, ValueKind::Frames);
        assert_eq!(&*d.separator, ",");
        assert_eq!(d.active_timeout_ms, 60_000);
        assert_eq!(d.idle_timeout_ms, 60_000);
        assert_eq!(d.max_entries, 100_000);
        assert_eq!(d.scope, Scope::Agent);
        assert_eq!(d.key_words, 2);
    }

    #[test]
    fn keys_as_list_and_every_attribute() {
        let s = spec(
            r#"name = "ssh"
               keys = ["ipsource", " ipdestination "]
               value = "bytes"
               filter = "ipprotocol=6&tcpdestinationport=22,23"
               fs = "|"
               log = true
               flowStart = false
               activeTimeout = 30
               n = 10
               t = 5.0
               maxEntries = 1000
               idleTimeout = 10
               scope = "fabric""#,
        )
        .unwrap();
        let d = FlowDefinition::from_spec(&s).unwrap();
        assert_eq!(&d.keys[..], &[Key::IpSource, Key::IpDestination]);
        assert_eq!(d.value, ValueKind::Bytes);
        assert_eq!(
            d.filter.as_ref().unwrap().text(),
            "ipprotocol=6&tcpdestinationport=22,23"
        );
        assert_eq!(&*d.separator, "|");
        assert_eq!(d.active_timeout_ms, 30_000);
        assert_eq!(d.idle_timeout_ms, 10_000);
        assert_eq!(d.max_entries, 1000);
        assert_eq!((d.n, d.t), (10, 5.0));
        assert_eq!(d.scope, Scope::Fabric);
        // The effective spec validates back to the same definition.
        let again = FlowDefinition::from_spec(&d.spec()).unwrap();
        assert_eq!(again.spec(), d.spec());
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        assert!(spec("name = \"x\"\nkeys = \"ipsource\"\nflowstart = true").is_err());
    }

    #[test]
    fn builtins_by_name_with_overrides() {
        for name in BUILTIN_NAMES {
            let d = FlowDefinition::from_spec(&FlowSpec {
                name: name.into(),
                ..Default::default()
            })
            .unwrap();
            assert!(d.log && d.flow_start, "{name}");
            assert_eq!(d.keys.len(), 3);
        }
        let d = FlowDefinition::from_spec(&spec("name = \"unet\"\nscope = \"fabric\"").unwrap())
            .unwrap();
        assert_eq!(d.keys[2], Key::IcmpUnreachableNet);
        assert_eq!(d.scope, Scope::Fabric);
        assert!(d.flow_start);
        assert_eq!(default_specs()[0].name, "uport");
    }

    #[test]
    fn errors_name_the_definition() {
        let err = |t: &str| {
            FlowDefinition::from_spec(&spec(t).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(err("name = \"x\"").contains("flow 'x': no keys"));
        assert!(err("name = \"x\"\nkeys = \"ipsource,nope\"").contains("unknown key 'nope'"));
        assert!(err("name = \"x\"\nkeys = \"ipsource,ipsource\"").contains("given twice"));
        let e = err("name = \"x\"\nkeys = \"ipsource\"\nfilter = \"ipprotocol=6&\"");
        assert!(e.contains("flow 'x': filter at position 13"), "{e}");
        assert!(err("name = \"x\"\nkeys = \"ipsource\"\nmaxEntries = 0").contains("maxEntries"));
        let wide = "agent,icmpunreachablenet,icmpunreachablehost,ip6source";
        assert!(err(&format!("name = \"x\"\nkeys = \"{wide}\"")).contains("67 bytes"));
        let nine = ["ipprotocol"; 9].join(",");
        assert!(err(&format!("name = \"x\"\nkeys = \"{nine}\"")).contains("at most 8"));
    }

    #[test]
    fn set_limits() {
        let d = FlowDefinition::from_spec(&builtin("uport").unwrap()).unwrap();
        assert!(matches!(
            FlowDefinitions::new(vec![d.clone(), d.clone()]),
            Err(DefinitionError::DuplicateName { .. })
        ));
        let many: Vec<_> = (0..65)
            .map(|i| {
                let mut x = d.clone();
                x.name = format!("d{i}").into();
                x
            })
            .collect();
        let e = FlowDefinitions::new(many).unwrap_err();
        assert_eq!(e, DefinitionError::TooMany { count: 65 });
        assert!(e.to_string().contains("at most 64"));
    }
}
