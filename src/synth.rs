//! Synthetic sFlow v5: an encoder for datagrams and for the sampled frames inside them.
//!
//! Tests across the crate, `flowsift blast` and the receive benchmark need datagrams whose
//! every field is known, in quantities no capture provides. This module only builds bytes;
//! it never parses them (the decoder lives in [`crate::sflow`] and [`crate::packet`], and the
//! tests that pair the two are what keep both honest).
//!
//! Two layers:
//! - [`DatagramBuilder`]: the XDR structure (sFlow v5 header, flow / expanded flow samples,
//!   counter / expanded counter samples, sampled-header, extended-switch and opaque records).
//!   It appends into one `Vec<u8>` that can be reused for the next datagram
//!   ([`DatagramBuilder::reset`]), so a load generator allocates nothing per datagram.
//! - [`Frame`]: an Ethernet (optionally 802.1Q-tagged) frame carrying IPv4 or IPv6 and TCP,
//!   UDP, ICMP/ICMPv6, or a destination-unreachable answer that embeds the original IP header
//!   and the first 8 bytes of its TCP/UDP header (what scan detection keys on).
//!
//! Layouts follow sflow_version_5.txt (<https://sflow.org/sflow_version_5.txt>), RFC 791/792
//! (IPv4, ICMP), RFC 8200/4443 (IPv6, ICMPv6), RFC 9293 (TCP), RFC 768 (UDP).

use std::net::IpAddr;

/// sFlow sample and record formats (enterprise 0) the encoder writes: the decoder's own
/// constants, so that both sides name them once.
pub mod format {
    pub use crate::sflow::counter_format::GENERIC_INTERFACE;
    pub use crate::sflow::flow_format::{EXTENDED_SWITCH, SAMPLED_HEADER};
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

/// Fields of a flow sample other than its records. `input` and `output` are the compact
/// interface words (format in the top two bits); the expanded form splits them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSampleHeader {
    pub sequence: u32,
    /// Source-id type (0 ifIndex, 1 VLAN, 2 entity).
    pub source_type: u8,
    /// Source-id index (24 bits in the compact form; a full word in the expanded one).
    pub source_index: u32,
    pub sampling_rate: u32,
    pub sample_pool: u32,
    pub drops: u32,
    pub input: u32,
    pub output: u32,
}

/// One flow record to put in a flow sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRecord<'a> {
    /// Sampled header (format 1): the first bytes of a frame of `frame_length` bytes.
    SampledHeader {
        protocol: u32,
        frame_length: u32,
        stripped: u32,
        header: &'a [u8],
    },
    /// Extended switch (format 1001).
    ExtendedSwitch {
        src_vlan: u32,
        src_priority: u32,
        dst_vlan: u32,
        dst_priority: u32,
    },
    /// Any other record: `tag` is `enterprise << 12 | format`; `data` is padded to 4 bytes.
    Opaque { tag: u32, data: &'a [u8] },
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

/// Builds one sFlow v5 datagram in place.
///
/// The sample count in the header is patched as samples are added, so the bytes are a
/// valid datagram after every call.
#[derive(Clone, Debug)]
pub struct DatagramBuilder {
    buf: Vec<u8>,
    /// Offset of the header's sample-count word.
    count_at: usize,
    samples: u32,
}

impl DatagramBuilder {
    /// A datagram with no samples yet.
    pub fn new(agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) -> Self {
        Self::with_buffer(
            Vec::with_capacity(1500),
            agent,
            sub_agent,
            sequence,
            uptime_ms,
        )
    }

    /// Like [`DatagramBuilder::new`], reusing `buf`'s allocation (its contents are discarded).
    pub fn with_buffer(
        mut buf: Vec<u8>,
        agent: IpAddr,
        sub_agent: u32,
        sequence: u32,
        uptime_ms: u32,
    ) -> Self {
        buf.clear();
        let mut b = DatagramBuilder {
            buf,
            count_at: 0,
            samples: 0,
        };
        b.write_header(agent, sub_agent, sequence, uptime_ms);
        b
    }

    /// Start over with a new header, keeping the allocation.
    pub fn reset(&mut self, agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) {
        self.buf.clear();
        self.samples = 0;
        self.write_header(agent, sub_agent, sequence, uptime_ms);
    }

    /// The datagram header, in the order of [`crate::sflow::layout::datagram`].
    fn write_header(&mut self, agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) {
        use crate::sflow::layout::datagram as dg;
        self.u32(dg::VERSION_5);
        match agent {
            IpAddr::V4(a) => {
                self.u32(dg::IPV4);
                self.buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u32(dg::IPV6);
                self.buf.extend_from_slice(&a.octets());
            }
        }
        self.u32(sub_agent);
        self.u32(sequence);
        self.u32(uptime_ms);
        self.count_at = self.buf.len();
        self.u32(0);
    }

    /// Add a flow sample (format 1). The source index is cut to 24 bits.
    pub fn flow_sample(&mut self, h: &FlowSampleHeader, records: &[FlowRecord<'_>]) -> &mut Self {
        let start = self.open_sample(format::FLOW_SAMPLE);
        self.u32(h.sequence);
        self.u32((u32::from(h.source_type) << 24) | (h.source_index & 0x00FF_FFFF));
        self.u32(h.sampling_rate);
        self.u32(h.sample_pool);
        self.u32(h.drops);
        self.u32(h.input);
        self.u32(h.output);
        self.flow_records(records);
        self.close_sample(start);
        self
    }

    /// Add an expanded flow sample (format 3): source id and interfaces as separate words.
    pub fn expanded_flow_sample(
        &mut self,
        h: &FlowSampleHeader,
        records: &[FlowRecord<'_>],
    ) -> &mut Self {
        let start = self.open_sample(format::EXPANDED_FLOW_SAMPLE);
        self.u32(h.sequence);
        self.u32(u32::from(h.source_type));
        self.u32(h.source_index);
        self.u32(h.sampling_rate);
        self.u32(h.sample_pool);
        self.u32(h.drops);
        self.u32(h.input >> 30);
        self.u32(h.input & 0x3FFF_FFFF);
        self.u32(h.output >> 30);
        self.u32(h.output & 0x3FFF_FFFF);
        self.flow_records(records);
        self.close_sample(start);
        self
    }

    /// Add a counter sample (format 2) with one generic interface record; the data source
    /// is the interface (`source_type` 0, index `c.if_index`).
    pub fn counter_sample(&mut self, sequence: u32, c: &GenericInterface) -> &mut Self {
        let start = self.open_sample(format::COUNTER_SAMPLE);
        self.u32(sequence);
        self.u32(c.if_index & 0x00FF_FFFF);
        self.u32(1);
        self.generic_interface(c);
        self.close_sample(start);
        self
    }

    /// Add an expanded counter sample (format 4) with one generic interface record.
    pub fn expanded_counter_sample(&mut self, sequence: u32, c: &GenericInterface) -> &mut Self {
        let start = self.open_sample(format::EXPANDED_COUNTER_SAMPLE);
        self.u32(sequence);
        self.u32(0);
        self.u32(c.if_index);
        self.u32(1);
        self.generic_interface(c);
        self.close_sample(start);
        self
    }

    /// Add a sample of any format with an opaque body (padded to 4 bytes), e.g. a vendor
    /// sample a decoder must skip.
    pub fn opaque_sample(&mut self, tag: u32, body: &[u8]) -> &mut Self {
        let start = self.open_sample(tag);
        self.opaque_bytes(body);
        self.close_sample(start);
        self
    }

    /// Number of samples added so far.
    pub fn sample_count(&self) -> u32 {
        self.samples
    }

    /// Current datagram length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Never true: a datagram always has its header.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The datagram so far (always a complete, valid datagram).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished datagram.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Bytes followed by zero padding to a 4-byte boundary (XDR), without a length word.
    fn opaque_bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (4 - data.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    /// Write a tag and a placeholder length; returns where the length word is.
    fn open_struct(&mut self, tag: u32) -> usize {
        self.u32(tag);
        let at = self.buf.len();
        self.u32(0);
        at
    }

    /// Patch the length word at `at` with the bytes written after it.
    fn close_struct(&mut self, at: usize) {
        // Datagrams are far below 4 GiB; saturate rather than wrap if a caller goes wild.
        let len = u32::try_from(self.buf.len() - at - 4).unwrap_or(u32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn open_sample(&mut self, tag: u32) -> usize {
        self.open_struct(tag)
    }

    fn close_sample(&mut self, at: usize) {
        self.close_struct(at);
        self.samples += 1;
        let c = self.count_at;
        self.buf[c..c + 4].copy_from_slice(&self.samples.to_be_bytes());
    }

    fn flow_records(&mut self, records: &[FlowRecord<'_>]) {
        self.u32(records.len() as u32);
        for r in records {
            match *r {
                FlowRecord::SampledHeader {
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
                FlowRecord::ExtendedSwitch {
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
                FlowRecord::Opaque { tag, data } => {
                    let at = self.open_struct(tag);
                    self.opaque_bytes(data);
                    self.close_struct(at);
                }
            }
        }
    }

    fn generic_interface(&mut self, c: &GenericInterface) {
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
}

/// TCP flag bits (RFC 9293 section 3.1).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The transport a [`Frame`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP (over IPv4) or ICMPv6 (over IPv6) with this type and code and a zero rest.
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    /// Destination unreachable: ICMP type 3 over IPv4, ICMPv6 type 1 over IPv6, with `code`,
    /// embedding `original` (the packet that could not be delivered).
    Unreachable {
        code: u8,
        original: Original,
    },
}

/// The packet a destination-unreachable message quotes: its IP header (same family as
/// the message) and the first 8 bytes of its transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Original {
    /// The original sender (the scanner, when the message answers a probe).
    pub src: IpAddr,
    /// The original destination (the probed host).
    pub dst: IpAddr,
    /// IP protocol: 6 and 17 get ports; anything else gets 8 zero bytes.
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// An Ethernet frame to encode. `payload_len` zero bytes follow the transport header, so
/// frame lengths can be realistic while the sampled header stays short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// 802.1Q tag (VLAN id, 12 bits) when set.
    pub vlan: Option<u16>,
    /// Source and destination must be the same family; a mismatch encodes the destination
    /// as the unspecified address of the source's family.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub tos: u8,
    pub transport: Transport,
    pub payload_len: u16,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

impl Frame {
    /// A frame with common defaults: no VLAN, TTL 64, TOS 0, no payload.
    pub fn new(src: IpAddr, dst: IpAddr, transport: Transport) -> Self {
        Frame {
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            vlan: None,
            src,
            dst,
            ttl: 64,
            tos: 0,
            transport,
            payload_len: 0,
        }
    }

    /// Append the whole Ethernet frame to `out`; returns its length.
    pub fn write_ethernet(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(&self.dst_mac);
        out.extend_from_slice(&self.src_mac);
        if let Some(vid) = self.vlan {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0FFF).to_be_bytes());
        }
        let ethertype = if self.src.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        };
        out.extend_from_slice(&ethertype.to_be_bytes());
        self.write_ip(out);
        out.len() - start
    }

    /// Append the IP packet alone (for header protocols 11 and 12); returns its length.
    pub fn write_ip(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let l4_len = self.transport_len() + usize::from(self.payload_len);
        match (self.src, self.dst) {
            (IpAddr::V4(s), d) => {
                let d = match d {
                    IpAddr::V4(d) => d.octets(),
                    IpAddr::V6(_) => [0; 4],
                };
                let proto = match self.transport {
                    Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMP,
                    _ => self.l4_protocol(),
                };
                write_ipv4(out, s.octets(), d, proto, self.ttl, self.tos, l4_len);
            }
            (IpAddr::V6(s), d) => {
                let d = match d {
                    IpAddr::V6(d) => d.octets(),
                    IpAddr::V4(_) => [0; 16],
                };
                let proto = match self.transport {
                    Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMPV6,
                    _ => self.l4_protocol(),
                };
                write_ipv6(out, s.octets(), d, proto, self.ttl, self.tos, l4_len);
            }
        }
        let v6 = self.src.is_ipv6();
        match self.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                flags,
            } => write_tcp(out, src_port, dst_port, flags),
            Transport::Udp { src_port, dst_port } => write_udp(out, src_port, dst_port, l4_len),
            Transport::Icmp { icmp_type, code } => {
                out.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
            }
            Transport::Unreachable { code, original } => {
                let icmp_type = if v6 { 1 } else { 3 };
                out.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
                write_original(out, &original, v6);
            }
        }
        out.resize(out.len() + usize::from(self.payload_len), 0);
        out.len() - start
    }

    /// The encoded Ethernet frame as a new vector.
    pub fn to_ethernet(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        self.write_ethernet(&mut v);
        v
    }

    fn l4_protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => PROTO_TCP,
            Transport::Udp { .. } => PROTO_UDP,
            Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMP,
        }
    }

    /// Bytes of the transport header (and, for unreachable messages, the quoted packet).
    fn transport_len(&self) -> usize {
        match self.transport {
            Transport::Tcp { .. } => 20,
            Transport::Udp { .. } | Transport::Icmp { .. } => 8,
            Transport::Unreachable { .. } => 8 + if self.src.is_ipv6() { 40 } else { 20 } + 8,
        }
    }
}

/// RFC 1071 Internet checksum of `bytes`.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = match *pair {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn write_ipv4(
    out: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    ttl: u8,
    tos: u8,
    payload_len: usize,
) {
    let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
    let start = out.len();
    out.extend_from_slice(&[0x45, tos]);
    out.extend_from_slice(&total.to_be_bytes());
    // Identification 0, flags DF, fragment offset 0.
    out.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    let sum = internet_checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
}

fn write_ipv6(
    out: &mut Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    next_header: u8,
    hop_limit: u8,
    traffic_class: u8,
    payload_len: usize,
) {
    let first = (6u32 << 28) | (u32::from(traffic_class) << 20);
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&u16::try_from(payload_len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&[next_header, hop_limit]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
}

/// A 20-byte TCP header (data offset 5, window 65535, checksum left 0: decoders of sampled
/// headers never verify it, and the payload is not all there anyway).
fn write_tcp(out: &mut Vec<u8>, src_port: u16, dst_port: u16, flags: u8) {
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
}

fn write_udp(out: &mut Vec<u8>, src_port: u16, dst_port: u16, len: usize) {
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

/// The quoted packet of an unreachable message: an IP header of the message's family and
/// the first 8 bytes of the original transport header.
fn write_original(out: &mut Vec<u8>, o: &Original, v6: bool) {
    // The original datagram was at least its transport header long.
    let l4_len = 8;
    if v6 {
        let s = match o.src {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        };
        let d = match o.dst {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        };
        write_ipv6(out, s, d, o.protocol, 64, 0, l4_len);
    } else {
        let s = match o.src {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        let d = match o.dst {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        write_ipv4(out, s, d, o.protocol, 64, 0, l4_len);
    }
    match o.protocol {
        PROTO_TCP => {
            out.extend_from_slice(&o.src_port.to_be_bytes());
            out.extend_from_slice(&o.dst_port.to_be_bytes());
            // Sequence number: the rest of the TCP header is not quoted.
            out.extend_from_slice(&[0, 0, 0, 1]);
        }
        PROTO_UDP => write_udp(out, o.src_port, o.dst_port, l4_len),
        _ => out.extend_from_slice(&[0; 8]),
    }
}

/// xorshift64*: a tiny deterministic generator, so synthetic loads and mutation tests
/// reproduce from a seed. Not for anything that needs unpredictability. The seed must not
/// be zero.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn empty_datagram_header_bytes() {
        let d = DatagramBuilder::new(v4(10, 0, 0, 1), 7, 42, 1000).finish();
        #[rustfmt::skip]
        let expect = [
            0, 0, 0, 5,          // version
            0, 0, 0, 1,          // IPv4
            10, 0, 0, 1,         // agent
            0, 0, 0, 7,          // sub-agent
            0, 0, 0, 42,         // sequence
            0, 0, 0x03, 0xE8,    // uptime 1000 ms
            0, 0, 0, 0,          // samples
        ];
        assert_eq!(d, expect);
    }

    #[test]
    fn ipv6_agent_header() {
        let agent = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let d = DatagramBuilder::new(agent, 0, 1, 2).finish();
        assert_eq!(d.len(), 4 + 4 + 16 + 16);
        assert_eq!(&d[4..8], &[0, 0, 0, 2]);
        assert_eq!(&d[8..10], &[0x20, 0x01]);
        assert_eq!(&d[23..24], &[1]);
    }

    #[test]
    fn flow_sample_bytes() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        let h = FlowSampleHeader {
            sequence: 9,
            source_type: 0,
            source_index: 3,
            sampling_rate: 1000,
            sample_pool: 5000,
            drops: 2,
            input: 3,
            output: 0x3FFF_FFFF,
        };
        b.flow_sample(
            &h,
            &[
                FlowRecord::SampledHeader {
                    protocol: header_protocol::ETHERNET,
                    frame_length: 1500,
                    stripped: 4,
                    header: &[0xAA, 0xBB, 0xCC, 0xDD, 0xEE],
                },
                FlowRecord::ExtendedSwitch {
                    src_vlan: 10,
                    src_priority: 0,
                    dst_vlan: 20,
                    dst_priority: 1,
                },
            ],
        );
        assert_eq!(b.sample_count(), 1);
        let d = b.finish();
        #[rustfmt::skip]
        let sample = [
            0, 0, 0, 1,            // tag: flow sample
            0, 0, 0, 88,           // length
            0, 0, 0, 9,            // sequence
            0, 0, 0, 3,            // source id
            0, 0, 0x03, 0xE8,      // sampling rate
            0, 0, 0x13, 0x88,      // pool
            0, 0, 0, 2,            // drops
            0, 0, 0, 3,            // input
            0x3F, 0xFF, 0xFF, 0xFF,// output
            0, 0, 0, 2,            // records
            0, 0, 0, 1,            // sampled header
            0, 0, 0, 24,
            0, 0, 0, 1,            // Ethernet
            0, 0, 0x05, 0xDC,      // frame length
            0, 0, 0, 4,            // stripped
            0, 0, 0, 5,            // header length
            0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0, 0, 0,
            0, 0, 0x03, 0xE9,      // extended switch
            0, 0, 0, 16,
            0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1,
        ];
        assert_eq!(&d[24..28], &[0, 0, 0, 1], "sample count");
        assert_eq!(&d[28..], &sample);
    }

    #[test]
    fn expanded_flow_sample_splits_words() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        let h = FlowSampleHeader {
            sequence: 1,
            source_type: 0,
            source_index: 0x0100_0000,
            sampling_rate: 1,
            sample_pool: 1,
            drops: 0,
            input: 0x8000_0007,
            output: 0x4000_0001,
        };
        b.expanded_flow_sample(&h, &[]);
        let d = b.finish();
        #[rustfmt::skip]
        let sample = [
            0, 0, 0, 3, 0, 0, 0, 44,
            0, 0, 0, 1,   // sequence
            0, 0, 0, 0,   // source type
            1, 0, 0, 0,   // source index (full word)
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
            0, 0, 0, 2, 0, 0, 0, 7,   // input: format 2, value 7
            0, 0, 0, 1, 0, 0, 0, 1,   // output: format 1, value 1
            0, 0, 0, 0,               // no records
        ];
        assert_eq!(&d[28..], &sample);
    }

    #[test]
    fn counter_samples_have_88_byte_generic_record() {
        let c = GenericInterface {
            if_index: 5,
            if_speed: 100_000_000_000,
            in_octets: 1 << 40,
            promiscuous: 1,
            ..Default::default()
        };
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.counter_sample(3, &c).expanded_counter_sample(4, &c);
        assert_eq!(b.sample_count(), 2);
        let d = b.finish();
        // Compact: tag, len, seq, source, nrec, rec tag, rec len, 88.
        assert_eq!(&d[28..36], &[0, 0, 0, 2, 0, 0, 0, 108]);
        assert_eq!(&d[40..44], &[0, 0, 0, 5]);
        assert_eq!(&d[48..56], &[0, 0, 0, 1, 0, 0, 0, 88]);
        assert_eq!(&d[56..60], &[0, 0, 0, 5], "ifIndex");
        assert_eq!(&d[140..144], &[0, 0, 0, 1], "promiscuous is the last word");
        let second = 28 + 8 + 108;
        assert_eq!(&d[second..second + 8], &[0, 0, 0, 4, 0, 0, 0, 112]);
        assert_eq!(d.len(), second + 8 + 112);
    }

    #[test]
    fn opaque_records_and_samples_are_padded() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.opaque_sample((9 << 12) | 7, &[1, 2, 3]);
        let d = b.as_bytes();
        assert_eq!(&d[28..], &[0, 0, 0x90, 7, 0, 0, 0, 4, 1, 2, 3, 0]);
    }

    #[test]
    fn reset_reuses_buffer() {
        let mut b = DatagramBuilder::new(v4(10, 0, 0, 1), 0, 1, 0);
        b.opaque_sample(1, &[0; 100]);
        b.reset(v4(10, 0, 0, 2), 1, 2, 3);
        assert_eq!(b.sample_count(), 0);
        assert_eq!(b.len(), 28);
        assert_eq!(&b.as_bytes()[8..12], &[10, 0, 0, 2]);
    }

    #[test]
    fn tcp_frame_bytes() {
        let mut f = Frame::new(
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 2),
            Transport::Tcp {
                src_port: 1234,
                dst_port: 80,
                flags: tcp_flags::SYN,
            },
        );
        f.vlan = Some(100);
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 4 + 20 + 20);
        assert_eq!(&bytes[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
        let ip = &bytes[18..38];
        assert_eq!(ip[0], 0x45);
        assert_eq!(&ip[2..4], &[0, 40], "total length");
        assert_eq!(ip[8], 64);
        assert_eq!(ip[9], 6);
        assert_eq!(internet_checksum(ip), 0, "header checksum verifies");
        assert_eq!(&bytes[38..42], &[0x04, 0xD2, 0x00, 0x50]);
        assert_eq!(bytes[38 + 13], tcp_flags::SYN);
    }

    #[test]
    fn udp_over_ipv6_frame() {
        let s = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let d = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut f = Frame::new(
            s,
            d,
            Transport::Udp {
                src_port: 5353,
                dst_port: 53,
            },
        );
        f.payload_len = 100;
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 40 + 8 + 100);
        assert_eq!(&bytes[12..14], &[0x86, 0xDD]);
        assert_eq!(bytes[14] >> 4, 6);
        assert_eq!(&bytes[18..20], &[0, 108], "payload length");
        assert_eq!(bytes[20], 17);
        assert_eq!(&bytes[54..58], &[0x14, 0xE9, 0x00, 0x35]);
        assert_eq!(&bytes[58..60], &[0, 108], "UDP length");
    }

    #[test]
    fn icmpv4_port_unreachable_embeds_original() {
        let f = Frame::new(
            v4(10, 0, 0, 9),
            v4(10, 0, 0, 5),
            Transport::Unreachable {
                code: 3,
                original: Original {
                    src: v4(10, 0, 0, 5),
                    dst: v4(10, 0, 0, 9),
                    protocol: 17,
                    src_port: 40000,
                    dst_port: 53,
                },
            },
        );
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 20 + 8 + 20 + 8);
        assert_eq!(bytes[14 + 9], 1, "ICMP");
        let icmp = &bytes[34..];
        assert_eq!(&icmp[..2], &[3, 3]);
        let inner = &icmp[8..];
        assert_eq!(inner[0], 0x45);
        assert_eq!(inner[9], 17);
        assert_eq!(&inner[12..16], &[10, 0, 0, 5]);
        assert_eq!(&inner[16..20], &[10, 0, 0, 9]);
        assert_eq!(internet_checksum(&inner[..20]), 0);
        assert_eq!(&inner[20..24], &[0x9C, 0x40, 0x00, 0x35]);
    }

    #[test]
    fn icmpv6_unreachable_and_raw_ip() {
        let s = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let o = Original {
            src: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            dst: s,
            protocol: 6,
            src_port: 1,
            dst_port: 22,
        };
        let f = Frame::new(
            s,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Transport::Unreachable {
                code: 4,
                original: o,
            },
        );
        let mut ip = Vec::new();
        let n = f.write_ip(&mut ip);
        assert_eq!(n, 40 + 8 + 40 + 8);
        assert_eq!(ip[6], 58, "ICMPv6");
        assert_eq!(&ip[40..42], &[1, 4]);
        assert_eq!(ip[48 + 6], 6, "quoted next header");
        assert_eq!(&ip[88..92], &[0, 1, 0, 22]);
    }

    #[test]
    fn frame_in_datagram_round_numbers() {
        // 7 samples of 128-byte headers make a typical ~1400-byte datagram.
        let f = Frame {
            payload_len: 1400,
            ..Frame::new(
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
                &[FlowRecord::SampledHeader {
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
