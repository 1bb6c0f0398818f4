//! sFlow-RT's flow filter language, parsed once into a compiled expression.
//!
//! Grammar (whitespace allowed between tokens):
//!
//! ```text
//! expr  := term ('|' term)*              -- '&' binds tighter than '|'
//! term  := atom ('&' atom)*
//! atom  := '(' expr ')' | KEY op values
//! op    := '=' | '!=' | '~' | '!~'
//! values:= value (',' value)*            -- any of
//! value := '"' chars '"' | chars up to one of , & | ) or the end
//! ```
//!
//! `=`/`!=` literals are parsed once by the key's kind (address, CIDR prefix such as
//! `10.0.0.0/8`, MAC as 12 hex digits, number, `tcp_22`), so evaluation compares values and
//! never formats text. `~`/`!~` take regular expressions (crate `regex`), anchored at both
//! ends as Java's `String.matches`, which sFlow-RT uses: write `.*foo.*` for a substring.
//! A comparison on a key the sample lacks is false, whatever the operator, so `x!=1` does
//! not select samples without `x`. Evaluating a regex formats the value into a stack buffer:
//! no allocation per sample.
//!
//! The left side may also be the key function `group:KEY:SET` ([`super::group`]):
//! `group:ipdestination:feeds=blocklist` holds when the destination's group in set
//! `feeds` is `blocklist`. Group names on the right are compared as numbers (the
//! process-wide name numbers, [`crate::groups::intern`]), so the test costs a lookup in
//! the set and an integer compare; an address in no group is a missing key (false).

use std::fmt;
use std::net::IpAddr;

use regex::Regex;

use super::group::{is_function, GroupKey};
use super::key::Kind;
use crate::groups::{intern, Groups};
use crate::packet::{Key, KeyValue, L4};
use crate::record::SampleRecord;

/// Deepest parenthesis nesting accepted, so a hostile configuration cannot overflow the stack.
const MAX_DEPTH: usize = 32;

/// A syntax or value error in a filter, at a byte position of the filter text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset into the filter text (0-based).
    pub position: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A compiled filter expression.
#[derive(Clone, Debug)]
pub struct Filter {
    text: String,
    nodes: Vec<Node>,
    root: usize,
}

#[derive(Clone, Debug)]
enum Node {
    And(usize, usize),
    Or(usize, usize),
    Test {
        key: Key,
        negate: bool,
        matcher: Matcher,
    },
    /// A test on a `group:` key; `=` literals are group name numbers.
    Group {
        key: GroupKey,
        negate: bool,
        matcher: Matcher,
    },
}

#[derive(Clone, Debug)]
enum Matcher {
    Any(Box<[Literal]>),
    Regex(Regex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Literal {
    Exact(KeyValue),
    Prefix(IpAddr, u8),
    /// A group name's number ([`intern`]).
    Group(u32),
}

impl Literal {
    fn matches(&self, v: &KeyValue) -> bool {
        match (self, v) {
            (Literal::Exact(want), v) => want == v,
            (Literal::Prefix(net, len), KeyValue::Ip(ip)) => in_prefix(*net, *len, *ip),
            (Literal::Group(id), KeyValue::Group(name)) => intern::name(*id) == Some(*name),
            _ => false,
        }
    }
}

fn in_prefix(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

impl Filter {
    /// Parse and compile `text`, with no group sets defined.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Filter::parse_in(text, &Groups::default())
    }

    /// Parse and compile `text`; `group:` terms resolve their sets in `groups`.
    pub fn parse_in(text: &str, groups: &Groups) -> Result<Filter, FilterError> {
        let mut p = Parser {
            s: text.as_bytes(),
            text,
            pos: 0,
            nodes: Vec::new(),
            groups,
        };
        let root = p.expr(0)?;
        p.skip_ws();
        if p.pos < p.s.len() {
            return Err(p.error("expected '&', '|' or the end of the filter"));
        }
        Ok(Filter {
            text: text.to_owned(),
            nodes: p.nodes,
            root,
        })
    }

    /// The filter as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `group:` keys the filter tests (a reload compares their sets).
    pub fn group_keys(&self) -> impl Iterator<Item = &GroupKey> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Group { key, .. } => Some(key),
            _ => None,
        })
    }

    /// The same text over group sets of the same content.
    pub fn same_as(&self, other: &Filter) -> bool {
        self.text == other.text && self.group_keys().eq(other.group_keys())
    }

    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &SampleRecord) -> bool {
        self.eval(self.root, record)
    }

    fn eval(&self, node: usize, record: &SampleRecord) -> bool {
        match self.nodes.get(node) {
            Some(Node::And(a, b)) => self.eval(*a, record) && self.eval(*b, record),
            Some(Node::Or(a, b)) => self.eval(*a, record) || self.eval(*b, record),
            Some(Node::Test {
                key,
                negate,
                matcher,
            }) => {
                let Some(value) = record.key(*key) else {
                    return false;
                };
                let hit = match matcher {
                    Matcher::Any(lits) => lits.iter().any(|l| l.matches(&value)),
                    Matcher::Regex(re) => regex_matches(re, &value),
                };
                hit != *negate
            }
            Some(Node::Group {
                key,
                negate,
                matcher,
            }) => {
                let Some(group) = key.lookup(record) else {
                    return false;
                };
                let hit = match matcher {
                    Matcher::Any(lits) => lits.contains(&Literal::Group(group)),
                    Matcher::Regex(re) => intern::name(group)
                        .is_some_and(|name| regex_matches(re, &KeyValue::Group(name))),
                };
                hit != *negate
            }
            None => false,
        }
    }
}

/// Whether `re` matches `value`'s text, formatted on the stack.
fn regex_matches(re: &Regex, value: &KeyValue) -> bool {
    let mut buf = StackText::default();
    use std::fmt::Write;
    // A value longer than the buffer (a long group name) is matched as far as it fits.
    let _ = write!(buf, "{value}");
    re.is_match(buf.as_str())
}

/// A fixed buffer that `write!` fills without allocating; the longest key text
/// (an IPv4-mapped IPv6 address) is 45 bytes, the longest group name 255.
struct StackText {
    buf: [u8; 256],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    nodes: Vec<Node>,
    groups: &'a Groups,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn expr(&mut self, depth: usize) -> Result<usize, FilterError> {
        let mut left = self.term(depth)?;
        while self.peek() == Some(b'|') {
            self.pos += 1;
            let right = self.term(depth)?;
            left = self.push(Node::Or(left, right));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<usize, FilterError> {
        let mut left = self.atom(depth)?;
        while self.peek() == Some(b'&') {
            self.pos += 1;
            let right = self.atom(depth)?;
            left = self.push(Node::And(left, right));
        }
        Ok(left)
    }

    fn atom(&mut self, depth: usize) -> Result<usize, FilterError> {
        match self.peek() {
            Some(b'(') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error("parentheses nested too deeply"));
                }
                self.pos += 1;
                let inner = self.expr(depth + 1)?;
                if self.peek() != Some(b')') {
                    return Err(self.error("expected ')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(_) => self.test(),
            None => Err(self.error("expected a key name or '('")),
        }
    }

    fn test(&mut self) -> Result<usize, FilterError> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            // `.` for the tunnel levels' keys (`ipsource.1`), `:` for key functions and
            // `-` in their set names (`group:ipsource:my-sets`).
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
        {
            self.pos += 1;
        }
        let name = &self.text[start..self.pos];
        if name.is_empty() {
            return Err(self.error("expected a key name or '('"));
        }
        let group = if is_function(name) {
            Some(GroupKey::parse(name, self.groups).map_err(|m| self.error_at(start, m))?)
        } else {
            None
        };
        let key = match &group {
            Some(_) => Key::Agent,
            None => Key::from_name(name)
                .ok_or_else(|| self.error_at(start, format!("unknown key '{name}'")))?,
        };
        self.skip_ws();
        let (negate, regex) = match (self.s.get(self.pos), self.s.get(self.pos + 1)) {
            (Some(b'!'), Some(b'=')) => (true, false),
            (Some(b'!'), Some(b'~')) => (true, true),
            (Some(b'='), _) => (false, false),
            (Some(b'~'), _) => (false, true),
            _ => return Err(self.error("expected '=', '!=', '~' or '!~'")),
        };
        self.pos += if negate { 2 } else { 1 };
        let values = self.values()?;
        let matcher = if regex {
            let alternatives: Vec<String> =
                values.iter().map(|(_, v)| format!("(?:{v})")).collect();
            let pattern = format!("^(?:{})$", alternatives.join("|"));
            let at = values.first().map_or(self.pos, |(p, _)| *p);
            Matcher::Regex(
                Regex::new(&pattern)
                    .map_err(|e| self.error_at(at, format!("bad regular expression: {e}")))?,
            )
        } else {
            let mut lits = Vec::with_capacity(values.len());
            for (at, v) in &values {
                let lit = match group {
                    Some(_) => group_literal(v),
                    None => literal(key, v),
                };
                lits.push(lit.map_err(|m| self.error_at(*at, m))?);
            }
            Matcher::Any(lits.into_boxed_slice())
        };
        Ok(self.push(match group {
            Some(key) => Node::Group {
                key,
                negate,
                matcher,
            },
            None => Node::Test {
                key,
                negate,
                matcher,
            },
        }))
    }

    /// The comma list after an operator, each value with its position.
    fn values(&mut self) -> Result<Vec<(usize, String)>, FilterError> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            let start = self.pos;
            let value = if self.s.get(self.pos) == Some(&b'"') {
                self.quoted()?
            } else {
                while self
                    .s
                    .get(self.pos)
                    .is_some_and(|c| !matches!(c, b',' | b'&' | b'|' | b')'))
                {
                    self.pos += 1;
                }
                self.text[start..self.pos].trim_end().to_owned()
            };
            if value.is_empty() {
                return Err(self.error_at(start, "expected a value"));
            }
            out.push((start, value));
            self.skip_ws();
            if self.s.get(self.pos) == Some(&b',') {
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn quoted(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None => return Err(self.error_at(open, "unterminated quoted value")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out)
                        .map_err(|_| self.error_at(open, "quoted value is not UTF-8"));
                }
                Some(b'\\') if matches!(self.s.get(self.pos + 1), Some(b'"' | b'\\')) => {
                    out.push(self.s[self.pos + 1]);
                    self.pos += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// A group name on the right of a `group:` test, as its number.
fn group_literal(v: &str) -> Result<Literal, String> {
    crate::groups::check_group_name(v)?;
    intern::intern(v)
        .map(Literal::Group)
        .ok_or_else(|| format!("'{v}': too many group names in this process"))
}

/// Parse one `=`/`!=` literal as the key's kind of value.
fn literal(key: Key, v: &str) -> Result<Literal, String> {
    let bad = |what: &str| format!("'{v}' is not {what} (key '{key}')");
    match Kind::of(key) {
        Kind::Ip4 | Kind::Ip6 | Kind::Ip => {
            if let Some((net, len)) = v.split_once('/') {
                let net: IpAddr = net.parse().map_err(|_| bad("an address prefix"))?;
                let len: u8 = len.parse().map_err(|_| bad("an address prefix"))?;
                let max = if net.is_ipv4() { 32 } else { 128 };
                if len > max {
                    return Err(bad("an address prefix"));
                }
                Ok(Literal::Prefix(net, len))
            } else {
                let ip: IpAddr = v.parse().map_err(|_| bad("an address"))?;
                Ok(Literal::Exact(KeyValue::Ip(ip)))
            }
        }
        Kind::Mac => {
            let hex = v.replace([':', '-'], "");
            if hex.len() != 12 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("a MAC address (12 hex digits)"));
            }
            let mut mac = [0u8; 6];
            for (i, m) in mac.iter_mut().enumerate() {
                *m = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| bad("a MAC address"))?;
            }
            Ok(Literal::Exact(KeyValue::Mac(mac)))
        }
        Kind::Number => v
            .parse()
            .map(|n| Literal::Exact(KeyValue::Number(n)))
            .map_err(|_| bad("a number")),
        Kind::Port => {
            let (l4, port) = if let Some(p) = v.strip_prefix("tcp_") {
                (L4::Tcp, p)
            } else if let Some(p) = v.strip_prefix("udp_") {
                (L4::Udp, p)
            } else {
                return Err(bad("a port such as tcp_22 or udp_53"));
            };
            let port = port
                .parse()
                .map_err(|_| bad("a port such as tcp_22 or udp_53"))?;
            Ok(Literal::Exact(KeyValue::Port(l4, port)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(src: &str, proto: u8, dport: Option<u16>) -> SampleRecord {
        let mut r = SampleRecord::port_unreachable(
            "192.0.2.1".parse().unwrap(),
            src.parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
            53,
        )
        .with_frame_length(100);
        r.keys.set_ip_protocol(Some(proto));
        r.keys.set_tcp_destination_port(dport);
        r.keys
            .set_mac_source(Some([0x00, 0x1c, 0x2e, 0xab, 0x0f, 0x80]));
        r
    }

    fn m(f: &str, r: &SampleRecord) -> bool {
        Filter::parse(f).unwrap().matches(r)
    }

    #[test]
    fn every_operator() {
        let r = rec("10.0.0.5", 6, Some(22));
        assert!(m("ipprotocol=6", &r));
        assert!(!m("ipprotocol=17", &r));
        assert!(m("ipprotocol!=17", &r));
        assert!(!m("ipprotocol!=6", &r));
        assert!(m("ipsource~10\\.0\\..*", &r));
        assert!(!m("ipsource~0\\.5", &r), "regex is anchored");
        assert!(m("ipsource!~192\\..*", &r));
        assert!(!m("ipsource!~10\\..*", &r));
        assert!(m("ipprotocol=6&tcpdestinationport=22", &r));
        assert!(!m("ipprotocol=6&tcpdestinationport=23", &r));
        assert!(m("ipprotocol=17|tcpdestinationport=22", &r));
        assert!(!m("ipprotocol=17|tcpdestinationport=23", &r));
    }

    #[test]
    fn comma_list_means_any_of() {
        let r = rec("10.0.0.5", 6, Some(23));
        assert!(m("tcpdestinationport=22,23", &r));
        assert!(!m("tcpdestinationport=22,24", &r));
        assert!(!m("tcpdestinationport!=22,23", &r));
        assert!(m("tcpdestinationport!=22,24", &r));
        assert!(m("ipsource~11\\..*,10\\..*", &r));
        assert!(m("ipprotocol=6&tcpdestinationport=22,23", &r));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let r = rec("10.0.0.5", 6, Some(22));
        // true | (false & false) = true
        assert!(m("ipprotocol=6|ipprotocol=17&tcpdestinationport=80", &r));
        // (true | false) & false = false
        assert!(!m("(ipprotocol=6|ipprotocol=17)&tcpdestinationport=80", &r));
        assert!(m(
            " ( ipprotocol = 6 ) & ( ( tcpdestinationport=22 ) ) ",
            &r
        ));
    }

    #[test]
    fn typed_literals() {
        let r = rec("10.0.0.5", 6, Some(22));
        assert!(m("ipsource=10.0.0.0/8", &r));
        assert!(!m("ipsource=10.1.0.0/16", &r));
        assert!(m("ipsource=0.0.0.0/0", &r));
        assert!(m("ipsource=10.0.0.5/32", &r));
        assert!(m("macsource=001C2EAB0F80", &r));
        assert!(m("macsource=00:1c:2e:ab:0f:80", &r));
        assert!(m("icmpunreachableport=udp_53", &r));
        assert!(!m("icmpunreachableport=tcp_53", &r));
        assert!(m("icmpunreachableport~udp_.*", &r));
        assert!(m("agent=192.0.2.1&inputifindex=3", &r));
        assert!(
            m("ipsource~\"10\\.(0|1)\\..*\"", &r),
            "quoted regex with '|'"
        );
    }

    #[test]
    fn missing_key_is_false_for_every_operator() {
        let r = rec("10.0.0.5", 17, None);
        for f in [
            "tcpdestinationport=22",
            "tcpdestinationport!=22",
            "tcpdestinationport~.*",
            "tcpdestinationport!~22",
            "ip6source=::1",
        ] {
            assert!(!m(f, &r), "{f}");
        }
        assert!(m("tcpdestinationport=22|ipprotocol=17", &r));
    }

    #[test]
    fn errors_name_the_position() {
        let e = |f: &str| Filter::parse(f).unwrap_err();
        assert_eq!(e("").position, 0);
        assert_eq!(e("ipprotocol").position, 10);
        assert_eq!(e("nosuchkey=1").position, 0);
        assert!(e("nosuchkey=1").message.contains("nosuchkey"));
        assert_eq!(e("ipprotocol=6&").position, 13);
        assert_eq!(e("ipprotocol=").position, 11);
        assert_eq!(e("ipprotocol=6,").position, 13);
        assert_eq!(e("(ipprotocol=6").position, 13);
        assert_eq!(e("ipprotocol=6)").position, 12);
        assert_eq!(e("ipprotocol=x").position, 11);
        assert_eq!(e("ipsource=10.0.0.0/33").position, 9);
        assert_eq!(e("ipsource~(").position, 9);
        assert_eq!(e("icmpunreachableport=53").position, 20);
        assert_eq!(e("ipsource~\"abc").position, 9);
        let deep = format!("{}ipprotocol=6{}", "(".repeat(40), ")".repeat(40));
        assert!(e(&deep).message.contains("nested"));
        assert_eq!(e("ipprotocol=6 ipprotocol=7").position, 11, "value runs on");
    }

    #[test]
    fn stack_text_rejects_overflow() {
        use std::fmt::Write;
        let mut t = StackText::default();
        assert!(t.write_str(&"x".repeat(256)).is_ok());
        assert!(t.write_str("y").is_err());
        assert_eq!(t.as_str().len(), 256);
    }

    fn feeds() -> Groups {
        let mut g = Groups::new();
        g.insert(
            crate::groups::GroupSet::from_map(
                "feeds",
                &[
                    ("blocklist", vec!["10.0.0.0/24"]),
                    ("tor", vec!["10.0.0.5/32"]),
                ],
            )
            .unwrap(),
        );
        g
    }

    #[test]
    fn group_terms() {
        let g = feeds();
        let m = |f: &str, r: &SampleRecord| Filter::parse_in(f, &g).unwrap().matches(r);
        let tor = rec("10.0.0.5", 6, Some(22));
        let listed = rec("10.0.0.7", 6, Some(22));
        let unlisted = rec("10.9.0.7", 6, Some(22));
        assert!(m("group:ipsource:feeds=tor", &tor), "most specific wins");
        assert!(!m("group:ipsource:feeds=blocklist", &tor));
        assert!(m("group:ipsource:feeds=blocklist", &listed));
        assert!(m("group:ipsource:feeds=tor,blocklist", &listed));
        assert!(m("group:ipsource:feeds!=tor", &listed));
        assert!(m("group:ipsource:feeds~block.*", &listed));
        assert!(m("group:ipsource:feeds=nosuchgroup|ipprotocol=6", &listed));
        // An address in no group is a missing key: false whatever the operator.
        for f in [
            "group:ipsource:feeds=blocklist",
            "group:ipsource:feeds!=blocklist",
            "group:ipsource:feeds~.*",
        ] {
            assert!(!m(f, &unlisted), "{f}");
        }
        assert!(m("ipprotocol=6&group:ipsource:feeds=blocklist", &listed));
        let e = Filter::parse_in("ipprotocol=6&group:ipsource:nope=x", &g).unwrap_err();
        assert_eq!(e.position, 13);
        assert!(e.message.contains("unknown group set 'nope'"), "{e}");
        let e = Filter::parse_in("group:ipsource:feeds=a b", &g).unwrap_err();
        assert_eq!(e.position, 21);
        assert!(Filter::parse("group:ipsource:feeds=tor").is_err());
    }

    #[test]
    fn same_as_compares_group_contents() {
        let f = "group:ipsource:feeds=tor";
        let a = Filter::parse_in(f, &feeds()).unwrap();
        assert!(a.same_as(&Filter::parse_in(f, &feeds()).unwrap()));
        let mut other = Groups::new();
        other.insert(
            crate::groups::GroupSet::from_map("feeds", &[("tor", vec!["10.0.0.6/32"])]).unwrap(),
        );
        assert!(!a.same_as(&Filter::parse_in(f, &other).unwrap()));
    }
}
