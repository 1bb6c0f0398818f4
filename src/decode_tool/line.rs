//! `sflowtool -l` line output: one `FLOW,...` line per flow sample and one `CNTR,...` line per
//! counter sample, byte for byte as InMon's reference decoder prints them.
//!
//! sflowtool builds each line from a per-sample scratch structure that every record it reads
//! overwrites in turn (sampled header, sampled Ethernet/IPv4/IPv6, extended switch, tunnel
//! and socket records), then prints it with C `printf` conversions. [`LineState`] is that
//! structure, and [`flow_line`] replays the records in wire order onto it, so the quirks come
//! out the same without bending the decoder:
//! - unknown values print as zero, missing addresses as `-`; IPv6 addresses as eight
//!   zero-padded groups; MACs as 12 lower-case hex digits;
//! - `%d` of 32-bit unsigned fields: a VLAN of 0xFFFFFFFF prints as `-1`;
//! - the VLAN column is the innermost 802.1Q tag of the sampled header, unless an extended
//!   switch record later in the sample overrides it;
//! - the second size column is frame length − stripped − offset of an IPv4 header (0 for
//!   IPv6 and raw-IP headers, so those count the link header);
//! - ICMP type and code fill the port columns (IPv4 only: ICMPv6 leaves them 0);
//! - the CNTR line is printed for every counter sample, with zeros when the sample has no
//!   generic interface record.
//!
//! The sampled header itself is decoded by [`crate::packet::decode_header`]; only the
//! presentation rules above live here.
//!
//! Two deliberate differences, both on damaged or exotic input only (no corpus file hits
//! them): sflowtool abandons the rest of a datagram at the first sample it cannot decode,
//! where flowsift drops that sample and prints the ones after it; and sflowtool exits on a
//! sampled-header protocol number it does not know, where flowsift prints the line without
//! header fields.

use std::fmt::Write;
use std::net::IpAddr;

use crate::packet::decode_header;

use crate::sflow::{
    CounterRecord, CounterSample, DecodeError, Element, FlowRecord, FlowSample, GenericInterface,
    SampleKind, SampledEthernet, SampledIp,
};

/// sflowtool's per-sample fields that reach a FLOW line, as the C code holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineState {
    pub input_port: u32,
    pub output_port: u32,
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub eth_type: u32,
    pub in_vlan: u32,
    pub out_vlan: u32,
    pub ip_src: Option<IpAddr>,
    pub ip_dst: Option<IpAddr>,
    pub ip_protocol: u32,
    pub ip_tos: u32,
    pub ip_ttl: u32,
    pub src_port: u32,
    pub dst_port: u32,
    pub tcp_flags: u32,
    pub sampled_packet_size: u32,
    pub stripped: u32,
    pub offset_to_ipv4: u32,
    pub mean_skip_count: u32,
}

impl LineState {
    /// Apply one flow record, as sflowtool's record readers do.
    pub fn apply(&mut self, record: &FlowRecord<'_>) {
        match *record {
            FlowRecord::SampledHeader(h) => {
                self.sampled_packet_size = h.frame_length();
                self.stripped = h.stripped();
                self.apply_header(h.header_protocol(), h.header());
            }
            FlowRecord::SampledEthernet(e)
            | FlowRecord::ExtendedL2TunnelEgress(e)
            | FlowRecord::ExtendedL2TunnelIngress(e) => self.apply_ethernet(&e),
            FlowRecord::SampledIpv4(ip)
            | FlowRecord::ExtendedIpv4TunnelEgress(ip)
            | FlowRecord::ExtendedIpv4TunnelIngress(ip) => self.apply_ip(&ip, true),
            FlowRecord::SampledIpv6(ip)
            | FlowRecord::ExtendedIpv6TunnelEgress(ip)
            | FlowRecord::ExtendedIpv6TunnelIngress(ip) => self.apply_ip(&ip, false),
            FlowRecord::ExtendedSwitch(s) => {
                self.in_vlan = s.src_vlan;
                self.out_vlan = s.dst_vlan;
            }
            FlowRecord::ExtendedSocketIpv4(s) | FlowRecord::ExtendedSocketIpv6(s) => {
                self.ip_src = Some(s.local_ip);
                self.ip_dst = Some(s.remote_ip);
            }
            _ => {}
        }
    }

    fn apply_header(&mut self, header_protocol: u32, bytes: &[u8]) {
        let d = decode_header(header_protocol, bytes);
        let k = &d.keys;
        if header_protocol == 1 {
            // Ethernet: sflowtool copies the MACs once 14 bytes are there, takes the VLAN of
            // each tag it walks (so the innermost wins), and records the EtherType only when
            // the whole header is at least as long as an IPv4 header.
            if let (Some(src), Some(dst)) = (k.mac_source(), k.mac_destination()) {
                self.eth_src = src;
                self.eth_dst = dst;
            }
            if let Some(vlan) = d.inner_vlan.or(k.vlan()) {
                self.in_vlan = u32::from(vlan);
            }
            if bytes.len() >= 20 {
                if let Some(t) = k.ethernet_protocol() {
                    self.eth_type = u32::from(t);
                }
            }
            // sflowtool does not look under MPLS labels (the keys do).
            if matches!(k.ethernet_protocol(), Some(0x8847 | 0x8848)) {
                return;
            }
        }
        let (Some(src), Some(dst)) = (k.ip_source(), k.ip_destination()) else {
            return;
        };
        self.ip_src = Some(src);
        self.ip_dst = Some(dst);
        if src.is_ipv4() {
            self.offset_to_ipv4 = d.network_offset.map_or(0, u32::from);
        }
        self.ip_protocol = k.ip_protocol().map_or(0, u32::from);
        self.ip_tos = k.ip_tos().map_or(0, u32::from);
        self.ip_ttl = k.ip_ttl().map_or(0, u32::from);
        match (self.ip_protocol, src) {
            (1, IpAddr::V4(_)) => {
                if let (Some(t), Some(c)) = (k.icmp_type(), k.icmp_code()) {
                    self.src_port = u32::from(t);
                    self.dst_port = u32::from(c);
                }
            }
            (6, _) => {
                if let (Some(s), Some(d)) = (k.tcp_source_port(), k.tcp_destination_port()) {
                    self.src_port = u32::from(s);
                    self.dst_port = u32::from(d);
                    // sflowtool reads the flags byte only, not the NS bit.
                    self.tcp_flags = k.tcp_flags().map_or(0, |f| u32::from(f & 0xFF));
                }
            }
            (17, _) => {
                if let (Some(s), Some(d)) = (k.udp_source_port(), k.udp_destination_port()) {
                    self.src_port = u32::from(s);
                    self.dst_port = u32::from(d);
                }
            }
            _ => {}
        }
    }

    fn apply_ethernet(&mut self, e: &SampledEthernet) {
        self.eth_src = e.src_mac;
        self.eth_dst = e.dst_mac;
        self.eth_type = e.eth_type;
    }

    fn apply_ip(&mut self, ip: &SampledIp, v4: bool) {
        self.sampled_packet_size = ip.length;
        self.ip_src = Some(ip.src);
        self.ip_dst = Some(ip.dst);
        self.ip_protocol = ip.protocol;
        if v4 {
            // sflowtool keeps the IPv6 record's priority out of the TOS column.
            self.ip_tos = ip.tos;
        }
        self.src_port = ip.src_port;
        self.dst_port = ip.dst_port;
        if ip.protocol == 6 {
            self.tcp_flags = ip.tcp_flags;
        }
    }

    /// The FLOW line (with its newline) for this state.
    pub fn write(&self, agent: IpAddr, out: &mut String) {
        // C `%d` of an unsigned 32-bit value: reinterpret as signed.
        let d = |v: u32| v as i32;
        let _ = writeln!(
            out,
            "FLOW,{},{},{},{},{},0x{:04x},{},{},{},{},{},0x{:02x},{},{},{},0x{:02x},{},{},{}",
            Addr(Some(agent)),
            d(self.input_port),
            d(self.output_port),
            Mac(self.eth_src),
            Mac(self.eth_dst),
            self.eth_type,
            d(self.in_vlan),
            d(self.out_vlan),
            Addr(self.ip_src),
            Addr(self.ip_dst),
            d(self.ip_protocol),
            self.ip_tos,
            d(self.ip_ttl),
            d(self.src_port),
            d(self.dst_port),
            self.tcp_flags,
            d(self.sampled_packet_size),
            d(self
                .sampled_packet_size
                .wrapping_sub(self.stripped)
                .wrapping_sub(self.offset_to_ipv4)),
            d(self.mean_skip_count),
        );
    }
}

/// An address as sflowtool prints it: dotted quad, eight 4-digit groups, or `-`.
struct Addr(Option<IpAddr>);

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(IpAddr::V4(a)) => write!(f, "{a}"),
            Some(IpAddr::V6(a)) => {
                for (i, g) in a.segments().iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{g:04x}")?;
                }
                Ok(())
            }
        }
    }
}

struct Mac([u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Append the FLOW line of a flow sample (compact or expanded).
pub fn flow_line(
    agent: IpAddr,
    sample: &FlowSample<'_>,
    out: &mut String,
) -> Result<(), DecodeError> {
    let mut state = LineState {
        input_port: sample.input().value(),
        output_port: sample.output().value(),
        mean_skip_count: sample.sampling_rate(),
        ..LineState::default()
    };
    for element in sample.records() {
        let element = element?;
        state.apply(&FlowRecord::parse(element.tag, element.data)?);
    }
    state.write(agent, out);
    Ok(())
}

/// Append the CNTR line of a counter sample: the last generic interface record's counters,
/// or zeros.
pub fn counter_line(
    agent: IpAddr,
    sample: &CounterSample<'_>,
    out: &mut String,
) -> Result<(), DecodeError> {
    let mut g = GenericInterface::default();
    for element in sample.records() {
        let element = element?;
        if let CounterRecord::GenericInterface(gi) =
            CounterRecord::parse(element.tag, element.data)?
        {
            g = gi;
        }
    }
    let _ = writeln!(
        out,
        "CNTR,{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        Addr(Some(agent)),
        g.if_index,
        g.if_type,
        g.if_speed,
        g.if_direction,
        g.if_status,
        g.if_in_octets,
        g.if_in_ucast_pkts,
        g.if_in_multicast_pkts,
        g.if_in_broadcast_pkts,
        g.if_in_discards,
        g.if_in_errors,
        g.if_in_unknown_protos,
        g.if_out_octets,
        g.if_out_ucast_pkts,
        g.if_out_multicast_pkts,
        g.if_out_broadcast_pkts,
        g.if_out_discards,
        g.if_out_errors,
        g.if_promiscuous_mode,
    );
    Ok(())
}

/// Append the line for any sample: FLOW for flow samples, CNTR for counter samples, nothing
/// for discarded-packet and unknown samples (sflowtool prints none for them either).
pub fn sample_line(
    agent: IpAddr,
    sample: &Element<'_>,
    out: &mut String,
) -> Result<(), DecodeError> {
    match SampleKind::of(sample.tag) {
        Some((SampleKind::Flow, expanded)) => {
            flow_line(agent, &FlowSample::new_checked(sample.data, expanded)?, out)
        }
        Some((SampleKind::Counters, expanded)) => counter_line(
            agent,
            &CounterSample::new_checked(sample.data, expanded)?,
            out,
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_macs_print_like_sflowtool() {
        assert_eq!(Addr(None).to_string(), "-");
        assert_eq!(
            Addr(Some("2a0c:8880:2:0:185:21:130:38".parse().unwrap())).to_string(),
            "2a0c:8880:0002:0000:0185:0021:0130:0038"
        );
        assert_eq!(
            Mac([0x24, 0x6e, 0x96, 0x90, 0x7a, 0x50]).to_string(),
            "246e96907a50"
        );
    }

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn record(tag: u32, body: &[u8]) -> Vec<u8> {
        let mut v = words(&[tag, body.len() as u32]);
        v.extend_from_slice(body);
        v
    }

    /// An Ethernet / 802.1Q 7 / 802.1Q 9 / IPv4 / TCP header, 58 bytes.
    fn qinq_tcp() -> Vec<u8> {
        let mut h = vec![0xAA, 0, 0, 0, 0, 1, 0xBB, 0, 0, 0, 0, 2];
        h.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x09, 0x08, 0x00]);
        h.extend_from_slice(&[0x45, 0x10, 0, 40, 0, 0, 0x40, 0, 61, 6, 0, 0]);
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(&[0x30, 0x39, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12, 0, 0]);
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    }

    fn flow_sample(records: &[Vec<u8>]) -> Vec<u8> {
        // seq 1, source 0:3, rate 512, pool 0, drops 0, in 3, out 0x3FFFFFFF
        let mut s = words(&[1, 3, 512, 0, 0, 3, 0x3FFF_FFFF, records.len() as u32]);
        for r in records {
            s.extend_from_slice(r);
        }
        s
    }

    fn line(sample: &[u8]) -> String {
        let mut out = String::new();
        let fs = FlowSample::new_checked(sample, false).unwrap();
        flow_line("192.0.2.1".parse().unwrap(), &fs, &mut out).unwrap();
        out
    }

    #[test]
    fn header_then_switch_record() {
        let h = qinq_tcp();
        let mut body = words(&[1, 64, 4, h.len() as u32]);
        body.extend_from_slice(&h);
        body.resize(body.len().next_multiple_of(4), 0);
        let header = record(1, &body);
        // The innermost tag (9) is sflowtool's VLAN; 64 - 4 - 22 = 38 is the IP size.
        assert_eq!(
            line(&flow_sample(std::slice::from_ref(&header))),
            "FLOW,192.0.2.1,3,1073741823,bb0000000002,aa0000000001,0x0800,9,0,\
             10.0.0.1,10.0.0.2,6,0x10,61,12345,22,0x12,64,38,512\n"
        );
        // An extended switch record after the header overrides both VLAN columns.
        let switch = record(1001, &words(&[100, 0, 200, 0]));
        assert!(line(&flow_sample(&[header, switch])).contains(",0x0800,100,200,"));
    }

    #[test]
    fn sampled_ipv4_record_only() {
        let ip = record(
            3,
            &words(&[40, 6, 0x0303_0303, 0x0404_0404, 53032, 25562, 0x10, 0x70]),
        );
        assert_eq!(
            line(&flow_sample(&[ip])),
            "FLOW,192.0.2.1,3,1073741823,000000000000,000000000000,0x0000,0,0,\
             3.3.3.3,4.4.4.4,6,0x70,0,53032,25562,0x10,40,40,512\n"
        );
    }

    #[test]
    fn truncated_known_record_fails_the_sample() {
        let switch = record(1001, &words(&[100, 0]));
        let fs_bytes = flow_sample(&[switch]);
        let fs = FlowSample::new_checked(&fs_bytes, false).unwrap();
        let mut out = String::new();
        assert!(flow_line("192.0.2.1".parse().unwrap(), &fs, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn counter_line_without_generic_record_is_zeros() {
        let vlan = record(5, &words(&[7, 0, 1, 2, 3, 4, 5]));
        let mut c = words(&[1, 9, 1]);
        c.extend_from_slice(&vlan);
        let cs = CounterSample::new_checked(&c, false).unwrap();
        let mut out = String::new();
        counter_line("192.0.2.1".parse().unwrap(), &cs, &mut out).unwrap();
        assert_eq!(
            out,
            "CNTR,192.0.2.1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n"
        );
    }

    #[test]
    fn signed_columns_and_size_wrap() {
        let s = LineState {
            in_vlan: u32::MAX,
            sampled_packet_size: 10,
            stripped: 4,
            offset_to_ipv4: 14,
            mean_skip_count: 1,
            ..LineState::default()
        };
        let mut out = String::new();
        s.write("1.2.3.4".parse().unwrap(), &mut out);
        assert_eq!(
            out,
            "FLOW,1.2.3.4,0,0,000000000000,000000000000,0x0000,-1,0,-,-,0,0x00,0,0,0,0x00,10,-8,1\n"
        );
    }
}
