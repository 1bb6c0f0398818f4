//! The agent allowlist: which source addresses may send datagrams.
//!
//! Checked on the sender address of every datagram before decoding, so traffic from
//! elsewhere costs one comparison per prefix and is counted, never decoded. An empty list
//! allows everything (the default: most fabrics filter sFlow at the edge already).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An address prefix such as `10.0.0.0/8` or `2001:db8::/32`. A bare address is a
/// single-host prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// A prefix; host bits of `addr` are cleared, `len` is capped at the address width.
    pub fn new(addr: IpAddr, len: u8) -> Cidr {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = len.min(max);
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(len)).into()),
        };
        Cidr { addr, len }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True when `ip` is inside the prefix. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// as a dual-stack socket would report it) matches IPv4 prefixes.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask128(self.len) == u128::from(net)
            }
            _ => false,
        }
    }

    /// The `n`-th address of the prefix (wrapping inside it), used to spread one capture
    /// over many impersonated agents.
    pub fn nth(&self, n: u64) -> IpAddr {
        match self.addr {
            IpAddr::V4(net) => {
                let host_bits = 32 - u32::from(self.len);
                let span = if host_bits >= 32 {
                    u64::from(u32::MAX) + 1
                } else {
                    1u64 << host_bits
                };
                IpAddr::V4((u32::from(net).wrapping_add((n % span) as u32)).into())
            }
            IpAddr::V6(net) => {
                let host_bits = 128 - u32::from(self.len);
                let off = if host_bits >= 64 {
                    u128::from(n)
                } else {
                    u128::from(n % (1u64 << host_bits))
                };
                IpAddr::V6((u128::from(net).wrapping_add(off)).into())
            }
        }
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| CidrError(format!("'{s}' is not an address or prefix")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(CidrError(format!("'{s}': prefix length must be 0..={max}"))),
            },
        };
        Ok(Cidr::new(addr, len))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A list of prefixes; empty means everyone is allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    prefixes: Vec<Cidr>,
}

impl Allowlist {
    pub fn new(prefixes: &[Cidr]) -> Allowlist {
        Allowlist {
            prefixes: prefixes.to_vec(),
        }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_prefixes_and_hosts() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!("192.0.2.1".parse::<Cidr>().unwrap().prefix_len(), 32);
        assert_eq!(
            "2001:db8::1/32".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("".parse::<Cidr>().is_err());
    }

    #[test]
    fn contains_by_family() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")), "v4-mapped matches");
        assert!(!c.contains(ip("2001:db8::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
    }

    #[test]
    fn allowlist_empty_allows_all() {
        assert!(Allowlist::default().allows(ip("203.0.113.9")));
        let a = Allowlist::new(&["192.0.2.0/24".parse().unwrap()]);
        assert!(a.allows(ip("192.0.2.200")));
        assert!(!a.allows(ip("192.0.3.1")));
    }

    #[test]
    fn nth_wraps_inside_prefix() {
        let c: Cidr = "10.0.0.0/30".parse().unwrap();
        assert_eq!(c.nth(0), ip("10.0.0.0"));
        assert_eq!(c.nth(3), ip("10.0.0.3"));
        assert_eq!(c.nth(4), ip("10.0.0.0"));
        let h: Cidr = "10.9.9.9".parse().unwrap();
        assert_eq!(h.nth(7), ip("10.9.9.9"));
        let v6: Cidr = "2001:db8::/120".parse().unwrap();
        assert_eq!(v6.nth(257), ip("2001:db8::1"));
    }
}
