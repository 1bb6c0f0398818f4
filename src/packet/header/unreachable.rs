//! ICMP destination unreachable: sFlow-RT's `icmpunreachable*` keys, read from the
//! original packet quoted after the 8-byte ICMP header.
//!
//! - ICMPv4 type 3, exactly as sFlow-RT: code 0 (net) → [`Unreachable::Net`] and code 1
//!   (host) → [`Unreachable::Host`], both the quoted destination address; code 2 (protocol)
//!   → [`Unreachable::Protocol`], the quoted protocol; code 3 (port) → [`Unreachable::Port`],
//!   the quoted TCP or UDP destination port (none for another quoted protocol). Other codes
//!   set none.
//! - ICMPv6 type 1, which sFlow-RT does not document; flowsift maps the codes that mean the
//!   same thing (RFC 4443 section 3.1): code 0 (no route to destination) → `Net`, code 3
//!   (address unreachable) → `Host`, both the quoted destination address; code 4 (port
//!   unreachable) → `Port`, the quoted TCP or UDP destination port found after the quoted
//!   packet's extension headers. Codes 1, 2, 5, 6 and 7 (policy and source-address
//!   failures) set none: they say nothing about a closed port or an absent host.
//!
//! Whenever the quoted packet is cut before the needed field, is not the expected IP
//! version, or (for ports) is a non-first fragment, no unreachable key is set.
//!
//! Apart from the layer walk because it is a second, smaller walk over another packet (the
//! quoted one) with rules of its own; the fast decoder ([`crate::packet::fast`]) shares it.

use std::net::IpAddr;

use crate::packet::transport::{self, protocol};
use crate::packet::{ipv4, ipv6, Unreachable, L4};

/// RFC 792.
pub(super) const ICMPV4_DESTINATION_UNREACHABLE: u8 = 3;
/// RFC 4443 section 3.1.
pub(super) const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;

/// The TCP or UDP destination port of a quoted packet's transport bytes.
#[inline]
fn quoted_port(proto: u8, l4: &[u8]) -> Option<Unreachable> {
    let protocol = match proto {
        protocol::TCP => L4::Tcp,
        protocol::UDP => L4::Udp,
        _ => return None,
    };
    let port = transport::destination_port(l4)?;
    Some(Unreachable::Port { protocol, port })
}

/// sFlow-RT's ICMPv4 destination-unreachable keys (see the module docs).
#[inline]
pub(in crate::packet) fn icmpv4_unreachable(code: u8, icmp: &[u8]) -> Option<Unreachable> {
    let quoted = ipv4::Packet::new_checked(transport::icmp_error_payload(icmp)?).ok()?;
    match code {
        0 => Some(Unreachable::Net(IpAddr::V4(quoted.destination()))),
        1 => Some(Unreachable::Host(IpAddr::V4(quoted.destination()))),
        2 => Some(Unreachable::Protocol(quoted.protocol())),
        3 if quoted.fragment_offset() == 0 => quoted_port(quoted.protocol(), quoted.payload()?),
        _ => None,
    }
}

/// flowsift's ICMPv6 destination-unreachable keys (see the module docs).
#[inline]
pub(in crate::packet) fn icmpv6_unreachable(code: u8, icmp: &[u8]) -> Option<Unreachable> {
    let quoted = ipv6::Packet::new_checked(transport::icmp_error_payload(icmp)?).ok()?;
    match code {
        0 => Some(Unreachable::Net(IpAddr::V6(quoted.destination()))),
        3 => Some(Unreachable::Host(IpAddr::V6(quoted.destination()))),
        4 => {
            let upper = quoted.upper_layer()?;
            if !upper.first_fragment {
                return None;
            }
            quoted_port(upper.protocol, quoted.buffer().get(upper.offset..)?)
        }
        _ => None,
    }
}
