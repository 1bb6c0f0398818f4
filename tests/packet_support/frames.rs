//! Hand-built frames, layer by layer (Ethernet, IPv4/IPv6, TCP/UDP/ICMP, ICMP errors
//! quoting a packet, VXLAN/Geneve/GRE tunnels), the fixed synthetic datagrams of the
//! decoder bench (`synthetic_1400`, `synthetic_vxlan_1400`), and a datagram whose record
//! overruns its sample (`overrunning_record`).
//!
//! Used by `tests/icmp_unreachable.rs`, `tests/tunnels_mutation.rs`, `tests/tunnels_run.rs`,
//! `tests/decode_walk.rs`, `tests/decode_formats.rs`, `tests/decode_corpus.rs` and
//! `benches/decode.rs`, so the bytes under test are written once. Records (`Record`: sampled header, extended switch, any other
//! typed `RecordSpec` that borrows nothing, or an opaque body for the vendor records the
//! encoder deliberately has no spec for), samples and datagrams (`Datagram`, `FlowSample`)
//! are all encoded by `flowsift::synth`, the one sFlow encoder of the tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowsift::synth::{DatagramBuilder, FlowSampleHeader, RecordSpec, WideInterfaces};

/// Ethernet II header with the given EtherType (and optional 802.1Q tag).
pub fn ethernet(ethertype: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut b = vec![
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    ];
    if let Some(vid) = vlan {
        b.extend_from_slice(&[0x81, 0x00]);
        b.extend_from_slice(&vid.to_be_bytes());
    }
    b.extend_from_slice(&ethertype.to_be_bytes());
    b
}

/// A 20-byte IPv4 header (no options), checksum left zero.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ttl: u8, payload_len: u16) -> Vec<u8> {
    let mut b = vec![0x45, 0x00];
    b.extend_from_slice(&(20 + payload_len).to_be_bytes());
    b.extend_from_slice(&[0x12, 0x34, 0x00, 0x00, ttl, protocol, 0, 0]);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b
}

/// A 40-byte IPv6 header.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: u16,
) -> Vec<u8> {
    let mut b = vec![0x60, 0x00, 0x00, 0x00];
    b.extend_from_slice(&payload_len.to_be_bytes());
    b.extend_from_slice(&[next_header, hop_limit]);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b
}

/// A UDP header.
pub fn udp(src: u16, dst: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&src.to_be_bytes());
    b.extend_from_slice(&dst.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x08, 0x00, 0x00]);
    b
}

/// A 20-byte TCP header with the given flags.
pub fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&src.to_be_bytes());
    b.extend_from_slice(&dst.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    b
}

/// An ICMP or ICMPv6 message header (type, code, zero checksum, 4 unused bytes) + `quoted`.
pub fn icmp(ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, code, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(quoted);
    b
}

/// The original probe an ICMPv4 unreachable quotes: IPv4 header + 8 bytes of `l4`.
pub fn quoted_v4(scanner: Ipv4Addr, target: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = ipv4(scanner, target, protocol, 57, l4.len() as u16);
    b.extend_from_slice(&l4[..l4.len().min(8)]);
    b
}

/// A whole Ethernet frame: `responder` answers `scanner` with ICMPv4 type 3 code `code`
/// quoting `quoted` (from [`quoted_v4`]).
pub fn unreachable_v4_frame(
    responder: Ipv4Addr,
    scanner: Ipv4Addr,
    code: u8,
    quoted: &[u8],
) -> Vec<u8> {
    let msg = icmp(3, code, quoted);
    let mut b = ethernet(0x0800, None);
    b.extend_from_slice(&ipv4(responder, scanner, 1, 64, msg.len() as u16));
    b.extend_from_slice(&msg);
    b
}

/// A whole Ethernet frame: `responder` answers `scanner` with ICMPv6 type 1 code `code`
/// quoting `quoted` (an IPv6 header and what follows it).
pub fn unreachable_v6_frame(
    responder: Ipv6Addr,
    scanner: Ipv6Addr,
    code: u8,
    quoted: &[u8],
) -> Vec<u8> {
    let msg = icmp(1, code, quoted);
    let mut b = ethernet(0x86DD, None);
    b.extend_from_slice(&ipv6(responder, scanner, 58, 64, msg.len() as u16));
    b.extend_from_slice(&msg);
    b
}

/// An sFlow record, owned, encoded by `flowsift::synth` (its [`RecordSpec`]).
pub enum Record {
    /// Flow record 1: the first bytes of a frame of `frame_length` bytes (FCS stripped).
    SampledHeader {
        protocol: u32,
        frame_length: u32,
        header: Vec<u8>,
    },
    /// Flow record 1001: VLANs, priorities 0.
    ExtendedSwitch { src_vlan: u32, dst_vlan: u32 },
    /// Any other record the encoder has a spec for whose fields it owns (sampled Ethernet,
    /// IPv4 and IPv6, extended router, counter records).
    Spec(RecordSpec<'static>),
    /// A record the encoder has no spec for (a vendor's): `enterprise << 12 | format` and a
    /// body of whole 4-byte words.
    Opaque { tag: u32, body: Vec<u8> },
}

/// Flow record 1 (sampled header): the first `snap` bytes of `frame`, as an agent that cuts
/// headers at `snap` bytes sends them.
pub fn sampled_header(
    header_protocol: u32,
    frame: &[u8],
    frame_length: u32,
    snap: usize,
) -> Record {
    Record::SampledHeader {
        protocol: header_protocol,
        frame_length,
        header: frame[..frame.len().min(snap)].to_vec(),
    }
}

/// Flow record 1001 (extended switch): VLANs and priorities.
pub fn extended_switch(src_vlan: u32, dst_vlan: u32) -> Record {
    Record::ExtendedSwitch { src_vlan, dst_vlan }
}

/// Fields of a flow sample (format 1, compact source id).
#[derive(Clone, Copy)]
pub struct FlowSample {
    pub sequence: u32,
    pub source_id: u32,
    pub sampling_rate: u32,
    pub sample_pool: u32,
    pub drops: u32,
    pub input: u32,
    pub output: u32,
}

impl Default for FlowSample {
    fn default() -> Self {
        FlowSample {
            sequence: 1,
            source_id: 7,
            sampling_rate: 1000,
            sample_pool: 1000,
            drops: 0,
            input: 7,
            output: 9,
        }
    }
}

/// An sFlow v5 datagram under construction (IPv4 or IPv6 agent): `flowsift::synth`'s
/// encoder, fed these tests' fixed-field structs and owned records.
pub struct Datagram(DatagramBuilder);

impl Datagram {
    pub fn new(agent: Ipv4Addr, sub_agent: u32, sequence: u32, uptime_ms: u32) -> Self {
        Datagram(DatagramBuilder::new(
            IpAddr::V4(agent),
            sub_agent,
            sequence,
            uptime_ms,
        ))
    }

    /// A datagram from an IPv6 agent.
    pub fn new_v6(agent: Ipv6Addr, sub_agent: u32, sequence: u32, uptime_ms: u32) -> Self {
        Datagram(DatagramBuilder::new(
            IpAddr::V6(agent),
            sub_agent,
            sequence,
            uptime_ms,
        ))
    }

    /// Append an expanded flow sample (format 3) with these records: data source and
    /// interfaces as (type, index) and (format 0, value) pairs.
    pub fn expanded_flow_sample(&mut self, s: FlowSample, records: &[Record]) -> &mut Self {
        let h = FlowSampleHeader {
            wide_interfaces: Some(WideInterfaces {
                input_format: 0,
                input_value: s.input,
                output_format: 0,
                output_value: s.output,
            }),
            ..s.header()
        };
        self.0.expanded_flow_sample(&h, &specs(records));
        self
    }

    /// Append a counter sample (format 2) with these counter records.
    pub fn counter_sample(
        &mut self,
        sequence: u32,
        source_id: u32,
        records: &[Record],
    ) -> &mut Self {
        self.0
            .counter_sample_records(sequence, source_id, &specs(records));
        self
    }

    /// Append a flow sample (format 1) with these records.
    pub fn flow_sample(&mut self, s: FlowSample, records: &[Record]) -> &mut Self {
        self.0.flow_sample(&s.header(), &specs(records));
        self
    }

    /// Bytes so far (for size budgeting).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.finish()
    }
}

impl FlowSample {
    /// The encoder's fields: the source id split into its type (top byte) and index.
    fn header(&self) -> FlowSampleHeader {
        FlowSampleHeader {
            sequence: self.sequence,
            source_type: (self.source_id >> 24) as u8,
            source_index: self.source_id & 0x00FF_FFFF,
            sampling_rate: self.sampling_rate,
            sample_pool: self.sample_pool,
            drops: self.drops,
            input: self.input,
            output: self.output,
            wide_interfaces: None,
        }
    }
}

/// Records as the encoder takes them.
fn specs(records: &[Record]) -> Vec<RecordSpec<'_>> {
    records
        .iter()
        .map(|r| match r {
            Record::SampledHeader {
                protocol,
                frame_length,
                header,
            } => RecordSpec::SampledHeader {
                protocol: *protocol,
                frame_length: *frame_length,
                stripped: 4,
                header,
            },
            Record::ExtendedSwitch { src_vlan, dst_vlan } => RecordSpec::ExtendedSwitch {
                src_vlan: *src_vlan,
                src_priority: 0,
                dst_vlan: *dst_vlan,
                dst_priority: 0,
            },
            Record::Spec(spec) => *spec,
            Record::Opaque { tag, body } => RecordSpec::Opaque {
                tag: *tag,
                data: body,
            },
        })
        .collect()
}

/// A datagram from `agent` whose first sample is malformed: a flow sample (sequence 1, data
/// source 1, sampling rate 1, input 1, output 2) whose one record, an extended switch, claims
/// 64 bytes the sample lacks (it has no body). Then, with `counter_after`, a well-formed
/// counter sample (sequence 1, data source 5, no records) the bad one must not hide.
pub fn overrunning_record(agent: Ipv4Addr, counter_after: bool) -> Vec<u8> {
    use flowsift::sflow::layout::{datagram, element, flow_sample};
    use flowsift::synth::format;
    let mut b = DatagramBuilder::new(IpAddr::V4(agent), 0, 1, 0);
    let h = FlowSampleHeader {
        sequence: 1,
        source_index: 1,
        sampling_rate: 1,
        input: 1,
        output: 2,
        ..FlowSampleHeader::default()
    };
    let bodiless = RecordSpec::Opaque {
        tag: format::EXTENDED_SWITCH,
        data: &[],
    };
    b.flow_sample(&h, &[bodiless]);
    if counter_after {
        b.counter_sample_records(1, 5, &[]);
    }
    let mut d = b.finish();
    // The record's length word: after the header, the sample's envelope and fixed part, and
    // the record's tag.
    let at = datagram::LEN_IPV4 + element::LEN + flow_sample::LEN + element::LENGTH;
    d[at..at + 4].copy_from_slice(&64u32.to_be_bytes());
    d
}

/// The synthetic load of the decoder bench: a 1396-byte datagram holding 7 flow samples,
/// each a 128-byte sampled Ethernet/IPv4/TCP-or-UDP header (the first also an
/// extended-switch record), with varied addresses, ports and tagging so that no branch is
/// trivially predicted.
pub fn synthetic_1400(seed: u32) -> Vec<u8> {
    let mut d = Datagram::new(Ipv4Addr::new(10, 0, 0, 1), 0, seed, 1000 + seed);
    for i in 0..7u32 {
        let n = seed.wrapping_mul(7).wrapping_add(i);
        let src = Ipv4Addr::from(0x0A00_0000 | (n.wrapping_mul(2_654_435_761) & 0xFFFF));
        let dst = Ipv4Addr::from(0xC0A8_0000 | (n & 0xFFFF));
        let (proto, l4) = match n % 3 {
            0 => (6, tcp(40_000 + (n % 1000) as u16, 443, 0x10)),
            1 => (17, udp(53, 30_000 + (n % 5000) as u16)),
            _ => (6, tcp(22, 50_000 + (n % 100) as u16, 0x18)),
        };
        let mut frame = ethernet(
            0x0800,
            if n % 2 == 0 {
                Some(100 + (n % 50) as u16)
            } else {
                None
            },
        );
        frame.extend_from_slice(&ipv4(src, dst, proto, 64, 1400));
        frame.extend_from_slice(&l4);
        frame.resize(1518, 0xA5);
        let sample = FlowSample {
            sequence: n,
            source_id: 3 + i,
            input: 3 + i,
            output: 40 + i,
            ..FlowSample::default()
        };
        let header = sampled_header(1, &frame, 1518, 128);
        if i == 0 {
            d.flow_sample(sample, &[header, extended_switch(100, 200)]);
        } else {
            d.flow_sample(sample, &[header]);
        }
    }
    d.finish()
}

/// A VXLAN header (RFC 7348): the I flag and `vni`.
pub fn vxlan(vni: u32) -> Vec<u8> {
    let v = vni.to_be_bytes();
    vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// A Geneve header (RFC 8926) with `options` bytes of options (a multiple of 4) carrying
/// EtherType `protocol`.
pub fn geneve(vni: u32, protocol: u16, options: usize) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let p = protocol.to_be_bytes();
    let mut b = vec![(options / 4) as u8, 0, p[0], p[1], v[1], v[2], v[3], 0];
    // One option TLV: class 0x0102, type 0x80, its length in words after the 4 bytes.
    if options >= 4 {
        b.extend_from_slice(&[0x01, 0x02, 0x80, ((options - 4) / 4) as u8]);
        b.resize(8 + options, 0xEE);
    }
    b
}

/// A GRE header (RFC 2784/2890) carrying `protocol`, with the optional checksum, key and
/// sequence number.
pub fn gre(protocol: u16, checksum: bool, key: Option<u32>, sequence: Option<u32>) -> Vec<u8> {
    let mut flags = 0u16;
    if checksum {
        flags |= 0x8000;
    }
    if key.is_some() {
        flags |= 0x2000;
    }
    if sequence.is_some() {
        flags |= 0x1000;
    }
    let mut b = flags.to_be_bytes().to_vec();
    b.extend_from_slice(&protocol.to_be_bytes());
    if checksum {
        b.extend_from_slice(&[0xAB, 0xCD, 0, 0]);
    }
    if let Some(k) = key {
        b.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = sequence {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b
}

/// The outer headers of a tunnel over IPv4: Ethernet (optionally tagged), IPv4 of
/// `protocol` from `src` to `dst`, then `inner` (a UDP header and tunnel header included
/// when the tunnel is over UDP).
pub fn over_ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    vlan: Option<u16>,
    inner: &[u8],
) -> Vec<u8> {
    let mut b = ethernet(0x0800, vlan);
    b.extend_from_slice(&ipv4(src, dst, protocol, 63, inner.len() as u16));
    b.extend_from_slice(inner);
    b
}

/// [`over_ipv4`] over IPv6.
pub fn over_ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    protocol: u8,
    vlan: Option<u16>,
    inner: &[u8],
) -> Vec<u8> {
    let mut b = ethernet(0x86DD, vlan);
    b.extend_from_slice(&ipv6(src, dst, protocol, 63, inner.len() as u16));
    b.extend_from_slice(inner);
    b
}

/// A UDP header to `port` followed by `payload`.
pub fn udp_to(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = udp(49_152, port);
    b.extend_from_slice(payload);
    b
}

/// A VXLAN-encapsulated tenant frame: the underlay (VTEP 192.0.2.1 -> 192.0.2.2, UDP 4789,
/// VNI `vni`) carrying `tenant` (an Ethernet frame).
pub fn vxlan_frame(vni: u32, tenant: &[u8]) -> Vec<u8> {
    let mut payload = vxlan(vni);
    payload.extend_from_slice(tenant);
    over_ipv4(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
        17,
        None,
        &udp_to(4789, &payload),
    )
}

/// The VXLAN load of the decoder bench: like [`synthetic_1400`], 7 flow samples of
/// 128-byte headers in a 1396-byte datagram, each header a VXLAN underlay frame whose
/// tenant frame is Ethernet/IPv4/TCP-or-UDP (the tenant headers cut at 128 bytes as an
/// agent cuts them: 78 bytes of tenant frame).
pub fn synthetic_vxlan_1400(seed: u32) -> Vec<u8> {
    let mut d = Datagram::new(Ipv4Addr::new(10, 0, 0, 1), 0, seed, 1000 + seed);
    for i in 0..7u32 {
        let n = seed.wrapping_mul(7).wrapping_add(i);
        let src = Ipv4Addr::from(0x0A00_0000 | (n.wrapping_mul(2_654_435_761) & 0xFFFF));
        let dst = Ipv4Addr::from(0xC0A8_0000 | (n & 0xFFFF));
        let (proto, l4) = match n % 3 {
            0 => (6, tcp(40_000 + (n % 1000) as u16, 443, 0x10)),
            1 => (17, udp(53, 30_000 + (n % 5000) as u16)),
            _ => (6, tcp(22, 50_000 + (n % 100) as u16, 0x18)),
        };
        let mut tenant = ethernet(0x0800, (n % 2 == 0).then_some(100 + (n % 50) as u16));
        tenant.extend_from_slice(&ipv4(src, dst, proto, 64, 1350));
        tenant.extend_from_slice(&l4);
        tenant.resize(1450, 0xA5);
        let frame = vxlan_frame(10_000 + n % 16, &tenant);
        let sample = FlowSample {
            sequence: n,
            source_id: 3 + i,
            input: 3 + i,
            output: 40 + i,
            ..FlowSample::default()
        };
        let header = sampled_header(1, &frame, frame.len() as u32 + 4, 128);
        if i == 0 {
            d.flow_sample(sample, &[header, extended_switch(100, 200)]);
        } else {
            d.flow_sample(sample, &[header]);
        }
    }
    d.finish()
}
