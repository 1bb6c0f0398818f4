//! Address groups: sFlow-RT's `setGroups(name, {group: [CIDR, ...], ...})`.
//!
//! A [`GroupSet`] maps every address to the name of the most specific group whose
//! prefixes hold it (IPv4 and IPv6), or to nothing. Flow definitions read it through the
//! key function `group:KEY:SET` ([`crate::flow::group`]): `group:ipdestination:feeds`
//! is the group of the destination in set `feeds`, usable as a flow key and in filters.
//!
//! One structure, several callers: [`GroupSet::from_map`] builds a set from group names
//! and CIDR lists (the form `setGroups` takes, and a `[[group]]` table's `groups`), and
//! [`GroupSet::from_file`] from a file of `CIDR group-name` lines ([`file`](mod@file)); the
//! configuration loader ([`GroupSpec::load`]) uses both. Errors are typed
//! ([`GroupError`]) so each caller can add its own context (a file and line, a position in
//! the configuration, a script's exception).
//!
//! A set is immutable once built and shared read-only (`Arc`) by the receive threads and
//! flow workers that evaluate group keys; a reload builds new sets and swaps them in with
//! the definitions that use them (docs/groups.md). Lookups allocate nothing: flat arrays
//! per family ([`lpm::RangeTable`], [`lpm::Ipv6Table`]).

pub mod file;
pub mod intern;
pub mod lpm;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use lpm::{Ipv6Table, RangeTable, NONE};

/// An address prefix: the address (host bits may be set; they are ignored) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpAddr, pub u8);

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

impl Cidr {
    /// The prefix with its host bits cleared.
    pub fn network(self) -> Cidr {
        let Cidr(a, len) = self;
        let a = match a {
            IpAddr::V4(v) => IpAddr::V4(
                (u32::from(v) & !u32::MAX.checked_shr(u32::from(len)).unwrap_or(0)).into(),
            ),
            IpAddr::V6(v) => IpAddr::V6(
                (u128::from(v) & !u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)).into(),
            ),
        };
        Cidr(a, len)
    }
}

/// Parse `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let bad = || format!("'{s}' is not an address prefix such as 10.0.0.0/8 or 2001:db8::/32");
    match s.split_once('/') {
        Some((a, len)) => {
            let a: IpAddr = a.parse().map_err(|_| bad())?;
            if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let len: u8 = len.parse().map_err(|_| bad())?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(format!(
                    "'{s}': a prefix length of {len} is longer than the address ({max} bits)"
                ));
            }
            Ok(Cidr(a, len))
        }
        None => {
            let a: IpAddr = s.parse().map_err(|_| bad())?;
            Ok(Cidr(a, if a.is_ipv4() { 32 } else { 128 }))
        }
    }
}

/// Characters a group or set name may not hold: they separate filter values, file fields
/// and key function arguments.
fn forbidden(c: char) -> bool {
    c.is_whitespace() || c.is_control() || ",&|()\"#=!~".contains(c)
}

/// A group name is 1 to [`intern::MAX_NAME_BYTES`] bytes without whitespace or any of
/// `,&|()"#=!~` (so that filters and files can hold it as written).
pub(crate) fn check_group_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > intern::MAX_NAME_BYTES || s.chars().any(forbidden) {
        return Err(format!(
            "'{s}' is not a group name (1 to {} bytes, no spaces or any of ,&|()\"#=!~)",
            intern::MAX_NAME_BYTES
        ));
    }
    Ok(())
}

/// A set name is a group name without `:` (it is an argument of `group:KEY:SET`).
pub(crate) fn check_set_name(s: &str) -> Result<(), String> {
    check_group_name(s)
        .ok()
        .filter(|()| !s.contains(':'))
        .ok_or_else(|| {
            format!("'{s}' is not a group set name (1 to 255 bytes, no spaces, ':' or any of ,&|()\"#=!~)")
        })
}

/// Where an entry of a set came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A group's CIDR list (`from_map`).
    Map,
    /// A line of a group file.
    Line(usize),
}

/// Why a group set could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// A set or group name that is not allowed.
    Name { set: String, message: String },
    /// A CIDR of a group's list that does not parse.
    Cidr {
        set: String,
        group: String,
        message: String,
    },
    /// A line of a group file that does not parse.
    File {
        path: String,
        line: usize,
        message: String,
    },
    /// A group file that cannot be read.
    Read { path: String, message: String },
    /// One prefix listed in two groups: which one an address is in would be ambiguous.
    Conflict {
        set: String,
        prefix: String,
        first: String,
        second: String,
    },
    /// The process holds [`intern::MAX_NAMES`] group names already.
    TooManyNames { set: String },
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Name { set, message } => write!(f, "group set '{set}': {message}"),
            GroupError::Cidr {
                set,
                group,
                message,
            } => write!(f, "group set '{set}', group '{group}': {message}"),
            GroupError::File {
                path,
                line,
                message,
            } => write!(f, "{path}:{line}: {message}"),
            GroupError::Read { path, message } => write!(f, "{path}: cannot read: {message}"),
            GroupError::Conflict {
                set,
                prefix,
                first,
                second,
            } => write!(
                f,
                "group set '{set}': {prefix} is in group {first} and in group {second}; a prefix may be in one group only"
            ),
            GroupError::TooManyNames { set } => write!(
                f,
                "group set '{set}': the process holds {} group names already (names are kept until restart)",
                intern::MAX_NAMES
            ),
        }
    }
}

impl std::error::Error for GroupError {}

/// A named set of address groups, built once, looked up by many threads.
#[derive(Debug, PartialEq, Eq)]
pub struct GroupSet {
    name: Arc<str>,
    /// The group names, sorted.
    groups: Box<[&'static str]>,
    /// Values are interned group name numbers ([`intern`]).
    v4: RangeTable<u32>,
    v6: Ipv6Table,
    prefixes: usize,
}

impl GroupSet {
    /// The set `name` of `groups`: each a group name and its CIDR list, as sFlow-RT's
    /// `setGroups(name, {external: ['0.0.0.0/0'], private: ['10.0.0.0/8']})`.
    pub fn from_map<G, C, S>(name: &str, groups: &[(G, C)]) -> Result<GroupSet, GroupError>
    where
        G: AsRef<str>,
        C: AsRef<[S]>,
        S: AsRef<str>,
    {
        let mut entries = Vec::new();
        for (group, cidrs) in groups {
            let group = group.as_ref();
            check_group_name(group).map_err(|message| GroupError::Name {
                set: name.to_owned(),
                message,
            })?;
            for c in cidrs.as_ref() {
                let prefix = parse_cidr(c.as_ref()).map_err(|message| GroupError::Cidr {
                    set: name.to_owned(),
                    group: group.to_owned(),
                    message,
                })?;
                entries.push((prefix, group.to_owned(), Origin::Map));
            }
        }
        GroupSet::from_entries(name, entries)
    }

    /// The set `name` read from a group file ([`file`](mod@file)).
    pub fn from_file(name: &str, path: &Path) -> Result<GroupSet, GroupError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| GroupError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        GroupSet::from_entries(name, file::parse(&text, &shown)?)
    }

    /// The set `name` of `(prefix, group, origin)` entries.
    pub fn from_entries(
        name: &str,
        entries: Vec<(Cidr, String, Origin)>,
    ) -> Result<GroupSet, GroupError> {
        check_set_name(name).map_err(|message| GroupError::Name {
            set: name.to_owned(),
            message,
        })?;
        let mut ids: BTreeMap<&str, u32> = BTreeMap::new();
        for (_, g, _) in &entries {
            if !ids.contains_key(g.as_str()) {
                let id = intern::intern(g).ok_or_else(|| GroupError::TooManyNames {
                    set: name.to_owned(),
                })?;
                ids.insert(g, id);
            }
        }
        let mut v4: Vec<(u32, u8, u32)> = Vec::new();
        let mut v6: Vec<(u128, u8, u32)> = Vec::new();
        // Each family's entry positions in `entries`, for conflict messages.
        let (mut at4, mut at6) = (Vec::new(), Vec::new());
        for (i, (Cidr(a, len), g, _)) in entries.iter().enumerate() {
            let id = ids.get(g.as_str()).copied().unwrap_or(NONE);
            match a {
                IpAddr::V4(a) => {
                    v4.push((u32::from(*a), *len, id));
                    at4.push(i);
                }
                IpAddr::V6(a) => {
                    v6.push((u128::from(*a), *len, id));
                    at6.push(i);
                }
            }
        }
        let conflict = |c: lpm::Conflict, at: &[usize]| {
            let describe = |i: usize| {
                let (cidr, g, origin) = &entries[at.get(i).copied().unwrap_or(0)];
                let place = match origin {
                    Origin::Map => String::new(),
                    Origin::Line(l) => format!(" (line {l})"),
                };
                (cidr, format!("'{g}'{place}"))
            };
            let (prefix, first) = describe(c.first);
            let (_, second) = describe(c.second);
            GroupError::Conflict {
                set: name.to_owned(),
                prefix: prefix.network().to_string(),
                first,
                second,
            }
        };
        let t4 = RangeTable::build(&v4).map_err(|c| conflict(c, &at4))?;
        let t6 = Ipv6Table::build(&v6).map_err(|c| conflict(c, &at6))?;
        Ok(GroupSet {
            name: name.into(),
            groups: ids
                .keys()
                .filter_map(|g| intern::intern(g).and_then(intern::name))
                .collect(),
            v4: t4,
            v6: t6,
            prefixes: entries.len(),
        })
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group names, sorted.
    pub fn groups(&self) -> &[&'static str] {
        &self.groups
    }

    /// Prefixes listed (duplicates included).
    pub fn prefixes(&self) -> usize {
        self.prefixes
    }

    /// Bytes the lookup structures hold.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }

    /// The interned number of the most specific group holding `ip` ([`intern::name`]
    /// gives its name), or `None` when no group does.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        let v = match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        };
        (v != NONE).then_some(v)
    }

    /// [`GroupSet::lookup`] of an IPv4 address as a number.
    #[inline]
    pub fn lookup_v4(&self, a: u32) -> Option<u32> {
        let v = self.v4.get(a);
        (v != NONE).then_some(v)
    }

    /// The name of the most specific group holding `ip`.
    pub fn group_of(&self, ip: IpAddr) -> Option<&'static str> {
        self.lookup(ip).and_then(intern::name)
    }
}

/// The group sets in force, by name.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    sets: Vec<Arc<GroupSet>>,
}

impl PartialEq for Groups {
    fn eq(&self, other: &Self) -> bool {
        self.sets.len() == other.sets.len()
            && self
                .sets
                .iter()
                .zip(&other.sets)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Groups {
    /// No sets.
    pub fn new() -> Groups {
        Groups::default()
    }

    /// Add `set`, replacing a set of the same name (as `setGroups` does).
    pub fn insert(&mut self, set: GroupSet) {
        let set = Arc::new(set);
        match self.sets.iter_mut().find(|s| s.name == set.name) {
            Some(s) => *s = set,
            None => self.sets.push(set),
        }
    }

    /// The set named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<GroupSet>> {
        self.sets.iter().find(|s| &*s.name == name)
    }

    /// Every set, in the order added.
    pub fn sets(&self) -> &[Arc<GroupSet>] {
        &self.sets
    }

    /// The names of every set.
    pub fn names(&self) -> Vec<&str> {
        self.sets.iter().map(|s| s.name()).collect()
    }
}

/// One `[[group]]` table of the configuration: a set named `name`, from `groups` (group
/// name to CIDR list), `file` (a group file), or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The set's name, as `group:KEY:NAME` refers to it.
    pub name: String,
    /// Group name to CIDR list, e.g. `{ private = ["10.0.0.0/8"], external = ["0.0.0.0/0"] }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Vec<String>>,
    /// A file of `CIDR group-name` lines, read at start and at every reload; a relative
    /// path is relative to the configuration file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl GroupSpec {
    /// The file's path as read: relative to `base` (the configuration's directory) when
    /// relative.
    pub fn file_path(&self, base: Option<&Path>) -> Option<PathBuf> {
        let f = self.file.as_ref()?;
        Some(match base {
            Some(b) if f.is_relative() => b.join(f),
            _ => f.clone(),
        })
    }

    /// Build the set: the map's entries, then the file's.
    pub fn load(&self, base: Option<&Path>) -> Result<GroupSet, GroupError> {
        let mut entries = Vec::new();
        for (group, cidrs) in &self.groups {
            check_group_name(group).map_err(|message| GroupError::Name {
                set: self.name.clone(),
                message,
            })?;
            for c in cidrs {
                let prefix = parse_cidr(c).map_err(|message| GroupError::Cidr {
                    set: self.name.clone(),
                    group: group.clone(),
                    message,
                })?;
                entries.push((prefix, group.clone(), Origin::Map));
            }
        }
        if let Some(path) = self.file_path(base) {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| GroupError::Read {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            entries.extend(file::parse(&text, &shown)?);
        }
        GroupSet::from_entries(&self.name, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn from_map_is_set_groups() {
        let set = GroupSet::from_map(
            "site",
            &[
                ("external", vec!["0.0.0.0/0", "::/0"]),
                ("private", vec!["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]),
                ("lab", vec!["10.1.0.0/16"]),
            ],
        )
        .unwrap();
        assert_eq!(set.name(), "site");
        assert_eq!(set.groups(), &["external", "lab", "private"]);
        assert_eq!(set.prefixes(), 6);
        assert_eq!(set.group_of(ip("8.8.8.8")), Some("external"));
        assert_eq!(set.group_of(ip("10.9.9.9")), Some("private"));
        assert_eq!(set.group_of(ip("10.1.0.1")), Some("lab"));
        assert_eq!(set.group_of(ip("fd00::1")), Some("private"));
        assert_eq!(set.group_of(ip("2001:db8::1")), Some("external"));
        let v4_only = GroupSet::from_map("v4", &[("a", ["10.0.0.0/8"])]).unwrap();
        assert_eq!(v4_only.lookup(ip("::a00:1")), None, "families apart");
        assert_eq!(v4_only.lookup(ip("11.0.0.1")), None);
    }

    #[test]
    fn errors_are_typed() {
        let e = GroupSet::from_map("s", &[("g", ["10.0.0.0/40"])]).unwrap_err();
        assert!(
            matches!(e, GroupError::Cidr { ref group, .. } if group == "g"),
            "{e}"
        );
        let e = GroupSet::from_map("s", &[("a b", ["10.0.0.0/8"])]).unwrap_err();
        assert!(matches!(e, GroupError::Name { .. }), "{e}");
        let e = GroupSet::from_map("s:t", &[("a", ["10.0.0.0/8"])]).unwrap_err();
        assert!(matches!(e, GroupError::Name { .. }), "{e}");
        let e =
            GroupSet::from_map("s", &[("a", ["10.0.0.0/8"]), ("b", ["10.1.2.3/8"])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "group set 's': 10.0.0.0/8 is in group 'a' and in group 'b'; a prefix may be in one group only"
        );
    }

    #[test]
    fn conflicts_in_files_name_both_lines() {
        let entries = file::parse("10.0.0.0/8 a\n\n10.0.0.0/8 a\n10.0.0.0/8 b\n", "f").unwrap();
        let e = GroupSet::from_entries("feeds", entries).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("'a' (line 1)") && s.contains("'b' (line 4)"),
            "{s}"
        );
    }

    #[test]
    fn spec_reads_map_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feed.txt"), "192.0.2.0/24 blocklist\n").unwrap();
        let spec = GroupSpec {
            name: "feeds".into(),
            groups: [("allow".to_string(), vec!["192.0.2.7".to_string()])].into(),
            file: Some("feed.txt".into()),
        };
        let set = spec.load(Some(dir.path())).unwrap();
        assert_eq!(set.group_of(ip("192.0.2.7")), Some("allow"));
        assert_eq!(set.group_of(ip("192.0.2.8")), Some("blocklist"));
        let e = spec.load(Some(&dir.path().join("nowhere"))).unwrap_err();
        assert!(matches!(e, GroupError::Read { .. }), "{e}");
        assert!(e.to_string().contains("feed.txt: cannot read"), "{e}");
    }

    #[test]
    fn groups_replace_by_name() {
        let mut g = Groups::new();
        g.insert(GroupSet::from_map("a", &[("x", ["10.0.0.0/8"])]).unwrap());
        g.insert(GroupSet::from_map("b", &[("x", ["10.0.0.0/8"])]).unwrap());
        g.insert(GroupSet::from_map("a", &[("y", ["10.0.0.0/8"])]).unwrap());
        assert_eq!(g.names(), vec!["a", "b"]);
        assert_eq!(g.get("a").unwrap().group_of(ip("10.0.0.1")), Some("y"));
        assert!(g.get("c").is_none());
    }
}
