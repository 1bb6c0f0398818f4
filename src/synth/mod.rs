//! Synthetic sFlow v5: an encoder for datagrams and for the sampled frames inside them.
//!
//! Tests across the crate, `flowsift blast` and the receive benchmark need datagrams whose
//! every field is known, in quantities no capture provides. This module only builds bytes;
//! it never parses them (the decoder lives in [`crate::sflow`] and [`crate::packet`], and the
//! tests that pair the two are what keep both honest).
//!
//! Two layers:
//! - [`DatagramBuilder`]: the XDR structure (sFlow v5 header, flow / expanded flow samples,
//!   counter / expanded counter samples) and the records in them ([`RecordSpec`]: sampled
//!   header, Ethernet, IPv4 and IPv6; extended switch, router and gateway; generic interface
//!   and Ethernet counters; opaque).
//!   It appends into one `Vec<u8>` that can be reused for the next datagram
//!   ([`DatagramBuilder::reset`]), so a load generator allocates nothing per datagram.
//! - [`FrameSpec`]: an Ethernet (optionally 802.1Q-tagged) frame carrying IPv4 or IPv6 and TCP,
//!   UDP, ICMP/ICMPv6, or a destination-unreachable answer that embeds the original IP header
//!   and the first 8 bytes of its TCP/UDP header (what scan detection keys on).
//!
//! Layouts follow sflow_version_5.txt (<https://sflow.org/sflow_version_5.txt>), RFC 791/792
//! (IPv4, ICMP), RFC 8200/4443 (IPv6, ICMPv6), RFC 9293 (TCP), RFC 768 (UDP).
//!
//! Files by role: `datagram` (the XDR encoder: [`DatagramBuilder`], the datagram and its
//! samples), `record` (the records inside samples: [`RecordSpec`] and the counter blocks),
//! `frame` (the sampled frames), `rng` (the seeded generator loads and mutation tests draw
//! from). Their names say they describe what to encode ([`RecordSpec`], [`FrameSpec`]), so
//! they are not mistaken for the decoder's views ([`crate::sflow::FlowRecord`],
//! [`crate::packet::ethernet::Frame`]).

mod datagram;
mod frame;
mod record;
mod rng;

pub use datagram::{DatagramBuilder, FlowSampleHeader, WideInterfaces};
pub use frame::{tcp_flags, FrameSpec, Original, Transport};
pub use record::{AsPathSegment, EthernetCounters, GenericInterface, RecordSpec};
pub use rng::Rng;

/// sFlow sample and record formats (enterprise 0) the encoder writes: the decoder's own
/// constants, so that both sides name them once.
pub mod format {
    pub use crate::sflow::counter_format::{ETHERNET as ETHERNET_COUNTERS, GENERIC_INTERFACE};
    pub use crate::sflow::flow_format::{
        EXTENDED_GATEWAY, EXTENDED_ROUTER, EXTENDED_SWITCH, SAMPLED_ETHERNET, SAMPLED_HEADER,
        SAMPLED_IPV4, SAMPLED_IPV6,
    };
    pub use crate::sflow::sample_format::{
        COUNTERS as COUNTER_SAMPLE, EXPANDED_COUNTERS as EXPANDED_COUNTER_SAMPLE,
        EXPANDED_FLOW as EXPANDED_FLOW_SAMPLE, FLOW as FLOW_SAMPLE,
    };
}

/// sFlow header protocols (sflow_version_5.txt "header_protocol").
pub mod header_protocol {
    pub const ETHERNET: u32 = crate::sflow::layout::sampled_header::ETHERNET;
    pub const IPV4: u32 = 11;
    pub const IPV6: u32 = 12;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn frame_in_datagram_round_numbers() {
        // 7 samples of 128-byte headers make a typical ~1400-byte datagram.
        let f = FrameSpec {
            payload_len: 1400,
            ..FrameSpec::new(
                v4(10, 1, 0, 1),
                v4(10, 2, 0, 1),
                Transport::Udp {
                    src_port: 1,
                    dst_port: 2,
                },
            )
        };
        let frame = f.to_ethernet();
        let mut b = DatagramBuilder::new(v4(10, 0, 0, 1), 0, 1, 0);
        for i in 0..7 {
            let h = FlowSampleHeader {
                sequence: i,
                sampling_rate: 10_000,
                ..Default::default()
            };
            b.flow_sample(
                &h,
                &[RecordSpec::SampledHeader {
                    protocol: header_protocol::ETHERNET,
                    frame_length: frame.len() as u32 + 4,
                    stripped: 4,
                    header: &frame[..128],
                }],
            );
        }
        // 28 header + 7 × (8 + 32 + 8 + 16 + 128).
        assert_eq!(b.len(), 28 + 7 * 192);
    }
}
