//! The records inside samples: [`RecordSpec`], one value per flow or counter record to
//! encode, the counter blocks some of them carry ([`GenericInterface`], [`EthernetCounters`]),
//! and how each is written (sflow_version_5.txt `flow_data` and `counter_data`, enterprise 0).
//!
//! Apart from `datagram` (the datagram and sample envelopes) because this is the part that
//! grows: each record format the loads, benches and tests put in a datagram has a typed
//! variant here, so that no caller spells a record's body out as words and the field order
//! of every format is written once. [`RecordSpec::Opaque`] remains for what the encoder
//! deliberately does not know: vendor records, and malformed ones a test builds on purpose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::datagram::DatagramBuilder;
use super::format;

/// One record to put in a sample: a flow record in a flow sample, a counter record
/// ([`RecordSpec::GenericInterface`], [`RecordSpec::EthernetCounters`]) in a counter sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordSpec<'a> {
    /// Sampled header (format 1): the first bytes of a frame of `frame_length` bytes.
    SampledHeader {
        protocol: u32,
        frame_length: u32,
        stripped: u32,
        header: &'a [u8],
    },
    /// Sampled Ethernet frame data (format 2): the MAC packet's length, addresses and
    /// EtherType.
    SampledEthernet {
        length: u32,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        eth_type: u32,
    },
    /// Sampled IPv4 data (format 3): the IP packet's length (without lower layers), protocol,
    /// addresses, TCP or UDP ports, TCP flags and TOS.
    SampledIpv4 {
        length: u32,
        protocol: u32,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        src_port: u32,
        dst_port: u32,
        tcp_flags: u32,
        tos: u32,
    },
    /// Sampled IPv6 data (format 4): as [`RecordSpec::SampledIpv4`], `protocol` the next
    /// header and `priority` the traffic class.
    SampledIpv6 {
        length: u32,
        protocol: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        src_port: u32,
        dst_port: u32,
        tcp_flags: u32,
        priority: u32,
    },
    /// Extended switch (format 1001).
    ExtendedSwitch {
        src_vlan: u32,
        src_priority: u32,
        dst_vlan: u32,
        dst_priority: u32,
    },
    /// Extended router (format 1002): the next hop and the source and destination prefix
    /// lengths.
    ExtendedRouter {
        next_hop: IpAddr,
        src_mask_len: u32,
        dst_mask_len: u32,
    },
    /// Extended gateway (format 1003): BGP data. `as_number` is the router's own AS;
    /// `communities` are sent as words.
    ExtendedGateway {
        next_hop: IpAddr,
        as_number: u32,
        src_as: u32,
        src_peer_as: u32,
        as_path: &'a [AsPathSegment<'a>],
        communities: &'a [u32],
        local_pref: u32,
    },
    /// Generic interface counters (counter format 1).
    GenericInterface(GenericInterface),
    /// Ethernet interface counters (counter format 2).
    EthernetCounters(EthernetCounters),
    /// Any other record: `tag` is `enterprise << 12 | format`; `data` is padded to 4 bytes.
    Opaque { tag: u32, data: &'a [u8] },
}

/// One segment of an extended gateway's destination AS path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsPathSegment<'a> {
    /// 1 `AS_SET`, 2 `AS_SEQUENCE`.
    pub segment_type: u32,
    pub asns: &'a [u32],
}

/// Generic interface counters (counter record format 1, 88 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenericInterface {
    pub if_index: u32,
    pub if_type: u32,
    pub if_speed: u64,
    pub if_direction: u32,
    pub if_status: u32,
    pub in_octets: u64,
    pub in_ucast: u32,
    pub in_multicast: u32,
    pub in_broadcast: u32,
    pub in_discards: u32,
    pub in_errors: u32,
    pub in_unknown_protos: u32,
    pub out_octets: u64,
    pub out_ucast: u32,
    pub out_multicast: u32,
    pub out_broadcast: u32,
    pub out_discards: u32,
    pub out_errors: u32,
    pub promiscuous: u32,
}

/// Ethernet interface counters (counter record format 2, 52 bytes: RFC 2358's
/// dot3StatsTable, in its order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthernetCounters {
    pub alignment_errors: u32,
    pub fcs_errors: u32,
    pub single_collision_frames: u32,
    pub multiple_collision_frames: u32,
    pub sqe_test_errors: u32,
    pub deferred_transmissions: u32,
    pub late_collisions: u32,
    pub excessive_collisions: u32,
    pub internal_mac_transmit_errors: u32,
    pub carrier_sense_errors: u32,
    pub frame_too_longs: u32,
    pub internal_mac_receive_errors: u32,
    pub symbol_errors: u32,
}

impl DatagramBuilder {
    /// A sampled IPv4 or IPv6 record (formats 3 and 4): the two share their layout but for
    /// the addresses' width; `words` are the source and destination ports, the TCP flags
    /// and the TOS (IPv4) or priority (IPv6).
    fn sampled_ip(
        &mut self,
        format: u32,
        length: u32,
        protocol: u32,
        addresses: [&[u8]; 2],
        words: [u32; 4],
    ) {
        let at = self.open_struct(format);
        self.u32(length);
        self.u32(protocol);
        for a in addresses {
            self.opaque_bytes(a);
        }
        for w in words {
            self.u32(w);
        }
        self.close_struct(at);
    }

    /// A sample's record list: the count, then each record in its envelope.
    pub(super) fn records(&mut self, records: &[RecordSpec<'_>]) {
        self.u32(records.len() as u32);
        for r in records {
            match *r {
                RecordSpec::SampledHeader {
                    protocol,
                    frame_length,
                    stripped,
                    header,
                } => {
                    let at = self.open_struct(format::SAMPLED_HEADER);
                    self.u32(protocol);
                    self.u32(frame_length);
                    self.u32(stripped);
                    self.u32(header.len() as u32);
                    self.opaque_bytes(header);
                    self.close_struct(at);
                }
                RecordSpec::SampledEthernet {
                    length,
                    src_mac,
                    dst_mac,
                    eth_type,
                } => {
                    let at = self.open_struct(format::SAMPLED_ETHERNET);
                    self.u32(length);
                    self.opaque_bytes(&src_mac);
                    self.opaque_bytes(&dst_mac);
                    self.u32(eth_type);
                    self.close_struct(at);
                }
                RecordSpec::SampledIpv4 {
                    length,
                    protocol,
                    src,
                    dst,
                    src_port,
                    dst_port,
                    tcp_flags,
                    tos,
                } => {
                    let ports = [src_port, dst_port, tcp_flags, tos];
                    let addresses = [&src.octets()[..], &dst.octets()[..]];
                    self.sampled_ip(format::SAMPLED_IPV4, length, protocol, addresses, ports);
                }
                RecordSpec::SampledIpv6 {
                    length,
                    protocol,
                    src,
                    dst,
                    src_port,
                    dst_port,
                    tcp_flags,
                    priority,
                } => {
                    let ports = [src_port, dst_port, tcp_flags, priority];
                    let addresses = [&src.octets()[..], &dst.octets()[..]];
                    self.sampled_ip(format::SAMPLED_IPV6, length, protocol, addresses, ports);
                }
                RecordSpec::ExtendedSwitch {
                    src_vlan,
                    src_priority,
                    dst_vlan,
                    dst_priority,
                } => {
                    let at = self.open_struct(format::EXTENDED_SWITCH);
                    self.u32(src_vlan);
                    self.u32(src_priority);
                    self.u32(dst_vlan);
                    self.u32(dst_priority);
                    self.close_struct(at);
                }
                RecordSpec::ExtendedRouter {
                    next_hop,
                    src_mask_len,
                    dst_mask_len,
                } => {
                    let at = self.open_struct(format::EXTENDED_ROUTER);
                    self.address(next_hop);
                    self.u32(src_mask_len);
                    self.u32(dst_mask_len);
                    self.close_struct(at);
                }
                RecordSpec::ExtendedGateway {
                    next_hop,
                    as_number,
                    src_as,
                    src_peer_as,
                    as_path,
                    communities,
                    local_pref,
                } => {
                    let at = self.open_struct(format::EXTENDED_GATEWAY);
                    self.address(next_hop);
                    self.u32(as_number);
                    self.u32(src_as);
                    self.u32(src_peer_as);
                    self.u32(as_path.len() as u32);
                    for segment in as_path {
                        self.u32(segment.segment_type);
                        self.u32(segment.asns.len() as u32);
                        for &asn in segment.asns {
                            self.u32(asn);
                        }
                    }
                    self.u32(communities.len() as u32);
                    for &c in communities {
                        self.u32(c);
                    }
                    self.u32(local_pref);
                    self.close_struct(at);
                }
                RecordSpec::GenericInterface(c) => self.generic_interface(&c),
                RecordSpec::EthernetCounters(c) => self.ethernet_counters(&c),
                RecordSpec::Opaque { tag, data } => {
                    let at = self.open_struct(tag);
                    self.opaque_bytes(data);
                    self.close_struct(at);
                }
            }
        }
    }

    /// A generic interface counter record, envelope included.
    pub(super) fn generic_interface(&mut self, c: &GenericInterface) {
        let at = self.open_struct(format::GENERIC_INTERFACE);
        self.u32(c.if_index);
        self.u32(c.if_type);
        self.u64(c.if_speed);
        self.u32(c.if_direction);
        self.u32(c.if_status);
        self.u64(c.in_octets);
        self.u32(c.in_ucast);
        self.u32(c.in_multicast);
        self.u32(c.in_broadcast);
        self.u32(c.in_discards);
        self.u32(c.in_errors);
        self.u32(c.in_unknown_protos);
        self.u64(c.out_octets);
        self.u32(c.out_ucast);
        self.u32(c.out_multicast);
        self.u32(c.out_broadcast);
        self.u32(c.out_discards);
        self.u32(c.out_errors);
        self.u32(c.promiscuous);
        self.close_struct(at);
    }

    /// An Ethernet interface counter record, envelope included.
    fn ethernet_counters(&mut self, c: &EthernetCounters) {
        let at = self.open_struct(format::ETHERNET_COUNTERS);
        for w in [
            c.alignment_errors,
            c.fcs_errors,
            c.single_collision_frames,
            c.multiple_collision_frames,
            c.sqe_test_errors,
            c.deferred_transmissions,
            c.late_collisions,
            c.excessive_collisions,
            c.internal_mac_transmit_errors,
            c.carrier_sense_errors,
            c.frame_too_longs,
            c.internal_mac_receive_errors,
            c.symbol_errors,
        ] {
            self.u32(w);
        }
        self.close_struct(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sflow::layout::{datagram, element, flow_sample};
    use crate::sflow::{CounterRecord, FlowRecord, Tag};
    use crate::synth::FlowSampleHeader;

    /// The envelope (tag, length) and body of the one record of a flow sample holding `r`.
    fn encoded(r: RecordSpec<'_>) -> (u32, Vec<u8>) {
        let mut b = DatagramBuilder::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 0, 1, 0);
        b.flow_sample(&FlowSampleHeader::default(), &[r]);
        let d = b.finish();
        let at = datagram::LEN_IPV4 + element::LEN + flow_sample::LEN;
        let word = |i: usize| u32::from_be_bytes(d[i..i + 4].try_into().unwrap());
        let body = d[at + element::LEN..].to_vec();
        assert_eq!(
            word(at + element::LENGTH) as usize,
            body.len(),
            "length word"
        );
        (word(at + element::TAG), body)
    }

    #[test]
    fn sampled_ethernet_and_ip_bytes() {
        let (tag, body) = encoded(RecordSpec::SampledEthernet {
            length: 1518,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            eth_type: 0x0800,
        });
        #[rustfmt::skip]
        let want = [
            0, 0, 0x05, 0xEE,           // length
            2, 0, 0, 0, 0, 1, 0, 0,     // source MAC, padded
            2, 0, 0, 0, 0, 2, 0, 0,     // destination MAC, padded
            0, 0, 0x08, 0x00,           // EtherType
        ];
        assert_eq!((tag, body.as_slice()), (2, &want[..]));

        let (tag, body) = encoded(RecordSpec::SampledIpv4 {
            length: 1500,
            protocol: 6,
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 1),
            src_port: 40_000,
            dst_port: 443,
            tcp_flags: 0x10,
            tos: 0x28,
        });
        #[rustfmt::skip]
        let want = [
            0, 0, 0x05, 0xDC, 0, 0, 0, 6,       // length, protocol
            10, 0, 0, 1, 192, 168, 0, 1,        // addresses
            0, 0, 0x9C, 0x40, 0, 0, 0x01, 0xBB, // ports
            0, 0, 0, 0x10, 0, 0, 0, 0x28,       // TCP flags, TOS
        ];
        assert_eq!((tag, body.as_slice()), (3, &want[..]));

        let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let (tag, body) = encoded(RecordSpec::SampledIpv6 {
            length: 1280,
            protocol: 17,
            src,
            dst,
            src_port: 53,
            dst_port: 5353,
            tcp_flags: 0,
            priority: 3,
        });
        assert_eq!((tag, body.len()), (4, 8 + 32 + 16));
        let Ok(FlowRecord::SampledIpv6(ip)) = FlowRecord::parse(Tag(tag), &body) else {
            panic!("not sampled IPv6")
        };
        assert_eq!((ip.length, ip.protocol), (1280, 17));
        assert_eq!((ip.src, ip.dst), (IpAddr::V6(src), IpAddr::V6(dst)));
        assert_eq!(
            (ip.src_port, ip.dst_port, ip.tcp_flags, ip.tos),
            (53, 5353, 0, 3)
        );
    }

    #[test]
    fn router_and_gateway_bytes() {
        let (tag, body) = encoded(RecordSpec::ExtendedRouter {
            next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
            src_mask_len: 24,
            dst_mask_len: 16,
        });
        let want = [0, 0, 0, 1, 192, 0, 2, 254, 0, 0, 0, 24, 0, 0, 0, 16];
        assert_eq!((tag, body.as_slice()), (1002, &want[..]));

        let (tag, body) = encoded(RecordSpec::ExtendedGateway {
            next_hop: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            as_number: 65000,
            src_as: 65001,
            src_peer_as: 65002,
            as_path: &[
                AsPathSegment {
                    segment_type: 2,
                    asns: &[174, 3356],
                },
                AsPathSegment {
                    segment_type: 1,
                    asns: &[65010],
                },
            ],
            communities: &[0xFDE8_0001],
            local_pref: 100,
        });
        // The decoder's own gateway test, word for word.
        let words: Vec<u8> = [
            1,
            0x0A00_0001,
            65000,
            65001,
            65002,
            2,
            2,
            2,
            174,
            3356,
            1,
            1,
            65010,
            1,
            0xFDE8_0001,
            100,
        ]
        .iter()
        .flat_map(|w: &u32| w.to_be_bytes())
        .collect();
        assert_eq!((tag, body), (1003, words));
    }

    #[test]
    fn counter_records_decode_to_their_fields() {
        let e = EthernetCounters {
            alignment_errors: 1,
            fcs_errors: 2,
            carrier_sense_errors: 10,
            symbol_errors: 13,
            ..Default::default()
        };
        let g = GenericInterface {
            if_index: 9,
            if_speed: 10_000_000_000,
            out_octets: 1 << 40,
            promiscuous: 1,
            ..Default::default()
        };
        let mut b = DatagramBuilder::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 0, 1, 0);
        b.counter_sample_records(
            1,
            9,
            &[
                RecordSpec::GenericInterface(g),
                RecordSpec::EthernetCounters(e),
            ],
        );
        let d = b.finish();
        // Header, sample envelope, sequence, source, count; then two records.
        let first = datagram::LEN_IPV4 + element::LEN + 12;
        let generic = &d[first + element::LEN..first + element::LEN + 88];
        let second = first + element::LEN + 88;
        assert_eq!(&d[second..second + 8], &[0, 0, 0, 2, 0, 0, 0, 52]);
        assert_eq!(d.len(), second + 8 + 52);
        let Ok(CounterRecord::GenericInterface(got)) = CounterRecord::parse(Tag(1), generic) else {
            panic!("not generic")
        };
        assert_eq!((got.if_index, got.if_speed), (9, 10_000_000_000));
        assert_eq!((got.if_out_octets, got.if_promiscuous_mode), (1 << 40, 1));
        let Ok(CounterRecord::Ethernet(got)) = CounterRecord::parse(Tag(2), &d[second + 8..])
        else {
            panic!("not Ethernet")
        };
        assert_eq!((got.alignment_errors, got.fcs_errors), (1, 2));
        assert_eq!((got.carrier_sense_errors, got.symbol_errors), (10, 13));
        assert_eq!(got.late_collisions, 0);
    }
}
