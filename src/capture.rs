//! sFlow datagrams out of capture files: classic pcap and pcapng (through `pcap-parser`), with
//! the datagram taken as the UDP payload of IPv4 or IPv6.
//!
//! Shared by `flowsift decode` and `flowsift replay`, so both read the same captures.
//!
//! Link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1 and v2, raw IP (12 and
//! 101, since DLT_RAW is 12 on some BSDs; 228, 229) and BSD loopback (0, 108). The headers
//! are read through the sampled-header views of [`crate::packet`] (`ethernet`, `ipv4`,
//! `ipv6`), so a capture is parsed by the same checked code as a sampled frame. IPv4
//! fragments after the first are skipped (they do not start with a UDP header); IPv6
//! extension headers are walked. The IPv4 total length and the UDP length bound the
//! payload, and so do the captured bytes: a frame cut short by the snap length yields a
//! short datagram, which the decoder then reports.

use std::fmt;
use std::io::Read;

use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{create_reader, Block, Linktype, PcapBlockOwned, PcapError};

use crate::packet::ethernet::{self, ethertype};
use crate::packet::transport::{self, protocol};
use crate::packet::{be16_at, ipv4, ipv6};

/// Which UDP datagrams of a capture are sFlow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortFilter {
    /// Destination port equal to this one.
    Destination(u16),
    /// Every UDP datagram.
    Any,
}

impl PortFilter {
    fn accepts(self, dst_port: u16) -> bool {
        match self {
            PortFilter::Destination(p) => p == dst_port,
            PortFilter::Any => true,
        }
    }
}

/// Why a capture could not be read (to its end).
#[derive(Debug)]
pub enum CaptureError {
    /// Neither pcap nor pcapng.
    NotACapture,
    /// The file ends inside a block, or a block is malformed.
    Corrupt(String),
    Io(std::io::Error),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotACapture => {
                f.write_str("not a pcap or pcapng file (use --raw for raw datagrams)")
            }
            CaptureError::Corrupt(e) => write!(f, "corrupt capture: {e}"),
            CaptureError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// What a capture held, for telling a user why nothing was decoded: a capture of the wrong
/// port, or of no UDP at all, must not look like a capture of nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    /// Every packet of the capture.
    pub packets: u64,
    /// UDP datagrams over IPv4 or IPv6, whatever their port.
    pub udp: u64,
    /// UDP datagrams the port filter took.
    pub taken: u64,
    /// Destination ports of the UDP datagrams the filter left, with their counts, most
    /// frequent first once [`CaptureCounts::ports`] sorts them; at most
    /// [`CaptureCounts::MAX_PORTS`] ports are told apart, the rest add to `other_ports`.
    left: Vec<(u16, u64)>,
    /// Datagrams left on ports beyond the ones told apart.
    pub other_ports: u64,
}

impl CaptureCounts {
    /// Ports remembered one by one; a capture of many ports does not need a longer list.
    pub const MAX_PORTS: usize = 8;

    fn leave(&mut self, port: u16) {
        if let Some(slot) = self.left.iter_mut().find(|(p, _)| *p == port) {
            slot.1 += 1;
        } else if self.left.len() < Self::MAX_PORTS {
            self.left.push((port, 1));
        } else {
            self.other_ports += 1;
        }
    }

    /// The destination ports left by the filter, most datagrams first.
    pub fn ports(&self) -> Vec<(u16, u64)> {
        let mut v = self.left.clone();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// The largest block the reader will grow its buffer for (pcapng allows huge blocks; a
/// corrupt length must not make us allocate without bound).
const MAX_BLOCK: usize = 16 << 20;

/// Call `packet(number, payload)` for every sFlow datagram in a pcap or pcapng stream, where
/// `number` counts every packet of the capture from 1 (as Wireshark numbers frames), so a
/// report can point at the packet. Packets that are not UDP to the wanted port are skipped,
/// and counted in what comes back.
pub fn for_each_datagram<R: Read>(
    input: R,
    filter: PortFilter,
    mut packet: impl FnMut(u64, &[u8]),
) -> Result<CaptureCounts, CaptureError> {
    let mut reader = match create_reader(1 << 16, input) {
        Ok(r) => r,
        // An empty input is no capture either (tcpdump always writes a file header).
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Io(std::io::Error::other("read failed")))
        }
        Err(_) => return Err(CaptureError::NotACapture),
    };
    let mut capacity = 1usize << 16;
    let mut counts = CaptureCounts::default();
    // Link type of the legacy file, or of each pcapng interface (reset per section).
    let mut legacy = Linktype::ETHERNET;
    let mut interfaces: Vec<Linktype> = Vec::new();
    let mut stalled = 0;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                stalled = 0;
                let frame = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = h.network;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((legacy, b.data)),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(idb.linktype);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(ref epb)) => {
                        let lt = interfaces
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or(Linktype::ETHERNET);
                        Some((lt, epb.packet_data()))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(ref spb)) => {
                        let lt = interfaces.first().copied().unwrap_or(Linktype::ETHERNET);
                        Some((lt, spb.packet_data()))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((linktype, data)) = frame {
                    counts.packets += 1;
                    if let Some((port, payload)) = udp_datagram(linktype, data) {
                        counts.udp += 1;
                        if filter.accepts(port) {
                            counts.taken += 1;
                            packet(counts.packets, payload);
                        } else {
                            counts.leave(port);
                        }
                    }
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => return Ok(counts),
            Err(PcapError::Incomplete(_)) => {
                // Two refills that bring nothing new mean the file ends inside a block.
                stalled += 1;
                if stalled > 2 {
                    return Err(CaptureError::Corrupt(
                        "truncated block at end of file".into(),
                    ));
                }
                reader
                    .refill()
                    .map_err(|e| CaptureError::Corrupt(format!("{e:?}")))?;
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_BLOCK || !reader.grow(capacity * 2) {
                    return Err(CaptureError::Corrupt("block larger than 16 MiB".into()));
                }
                capacity *= 2;
                reader
                    .refill()
                    .map_err(|e| CaptureError::Corrupt(format!("{e:?}")))?;
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(CaptureError::Corrupt(
                    "truncated block at end of file".into(),
                ))
            }
            Err(e) => return Err(CaptureError::Corrupt(format!("{e:?}"))),
        }
    }
}

/// The UDP payload of one captured frame, when it is UDP to a port the filter accepts.
pub fn udp_payload(linktype: Linktype, frame: &[u8], filter: PortFilter) -> Option<&[u8]> {
    let (port, payload) = udp_datagram(linktype, frame)?;
    filter.accepts(port).then_some(payload)
}

/// The destination port and payload of one captured frame, when it is UDP.
fn udp_datagram(linktype: Linktype, frame: &[u8]) -> Option<(u16, &[u8])> {
    let ip = match linktype {
        Linktype::ETHERNET => ethernet_payload(frame)?,
        Linktype::LINUX_SLL => ip_after(frame, be16_at(frame, 14)?, 16)?,
        Linktype::LINUX_SLL2 => ip_after(frame, be16_at(frame, 0)?, 20)?,
        Linktype::RAW | DLT_RAW_BSD | Linktype::IPV4 | Linktype::IPV6 => frame,
        Linktype::NULL | Linktype::LOOP => frame.get(4..)?,
        _ => return None,
    };
    let udp = match ip.first()? >> 4 {
        4 => ipv4_udp(ip)?,
        6 => ipv6_udp(ip)?,
        _ => return None,
    };
    let port = transport::destination_port(udp)?;
    let len = usize::from(be16_at(udp, 4)?);
    if len < 8 {
        return None;
    }
    Some((port, udp.get(8..len.min(udp.len()))?))
}

/// DLT_RAW as OpenBSD and older BSDs write it (LINKTYPE_RAW is 101 elsewhere).
const DLT_RAW_BSD: Linktype = Linktype(12);

/// The bytes from `at` when `ethertype` (of a cooked header) says IPv4 or IPv6.
fn ip_after(frame: &[u8], ethertype: u16, at: usize) -> Option<&[u8]> {
    match ethertype {
        ethertype::IPV4 | ethertype::IPV6 => frame.get(at..),
        _ => None,
    }
}

/// The IP packet of an Ethernet frame, past any VLAN tags (and an LLC/SNAP header).
fn ethernet_payload(frame: &[u8]) -> Option<&[u8]> {
    let payload = ethernet::Frame::new_checked(frame).ok()?.payload_type();
    ip_after(frame, payload.ethertype?, payload.offset)
}

/// The UDP header and payload of an IPv4 packet that is UDP and not a later fragment,
/// bounded by the total length when that is plausible.
fn ipv4_udp(ip: &[u8]) -> Option<&[u8]> {
    let p = ipv4::Packet::new_checked(ip).ok()?;
    if p.protocol() != protocol::UDP || p.fragment_offset() != 0 {
        return None; // another protocol, or a later fragment: no UDP header here
    }
    let ihl = p.header_len();
    let total = usize::from(p.total_len());
    let end = if total >= ihl {
        total.min(ip.len())
    } else {
        ip.len()
    };
    ip.get(ihl..end)
}

/// The UDP header and payload of an IPv6 packet, past its extension headers, unless it is
/// another protocol or a later fragment.
fn ipv6_udp(ip: &[u8]) -> Option<&[u8]> {
    let p = ipv6::Packet::new_checked(ip).ok()?;
    let upper = p.upper_layer()?;
    if upper.protocol != protocol::UDP || !upper.first_fragment {
        return None;
    }
    ip.get(upper.offset..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x18, 0xC7];
        v.extend_from_slice(&dst.to_be_bytes());
        v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(payload);
        v
    }

    fn ipv4(l4: &[u8]) -> Vec<u8> {
        let mut v = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let total = (20 + l4.len()) as u16;
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(l4);
        v
    }

    #[test]
    fn ethernet_vlan_ipv4_udp() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        f.extend(ipv4(&udp(6343, b"sflow")));
        f.extend_from_slice(&[0xEE; 4]); // Ethernet padding after the IP packet
        let p = udp_payload(Linktype::ETHERNET, &f, PortFilter::Destination(6343));
        assert_eq!(p, Some(&b"sflow"[..]));
        assert_eq!(
            udp_payload(Linktype::ETHERNET, &f, PortFilter::Destination(9)),
            None
        );
        assert_eq!(
            udp_payload(Linktype::ETHERNET, &f, PortFilter::Any),
            Some(&b"sflow"[..])
        );
        for n in 0..f.len() {
            let _ = udp_payload(Linktype::ETHERNET, &f[..n], PortFilter::Any);
        }
    }

    #[test]
    fn raw_ipv6_with_extension_header() {
        let u = udp(6343, b"x");
        let mut ip = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        ip[4..6].copy_from_slice(&((8 + u.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0; 32]);
        ip.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]); // hop-by-hop, 8 bytes
        ip.extend(u);
        assert_eq!(
            udp_payload(Linktype::RAW, &ip, PortFilter::Destination(6343)),
            Some(&b"x"[..])
        );
        for n in 0..ip.len() {
            let _ = udp_payload(Linktype::RAW, &ip[..n], PortFilter::Any);
        }
    }

    #[test]
    fn cooked_and_loopback_link_types() {
        let ip = ipv4(&udp(6343, b"sll"));
        // Linux cooked v1: 16-byte header, protocol in the last two bytes
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(Linktype::LINUX_SLL, &sll, PortFilter::Any),
            Some(&b"sll"[..])
        );
        // Linux cooked v2: 20-byte header, protocol first
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(Linktype::LINUX_SLL2, &sll2, PortFilter::Any),
            Some(&b"sll"[..])
        );
        // BSD loopback: 4-byte address family
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(Linktype::NULL, &null, PortFilter::Any),
            Some(&b"sll"[..])
        );
        // ARP over cooked v1 is not IP
        sll[14] = 0x08;
        sll[15] = 0x06;
        assert_eq!(
            udp_payload(Linktype::LINUX_SLL, &sll, PortFilter::Any),
            None
        );
        // an unsupported link type yields nothing
        assert_eq!(udp_payload(Linktype(147), &ip, PortFilter::Any), None);
    }

    #[test]
    fn ethernet_vlan_ipv6_udp() {
        // Ethernet + 802.1Q + IPv6 + UDP + "x".
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0x00, 0x0A, 0x86, 0xDD]);
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 9, 17, 64];
        ip6.extend([0u8; 32]);
        f.extend(ip6);
        f.extend([0x18, 0xC7, 0x18, 0xC7, 0, 9, 0, 0, b'x']);
        assert_eq!(
            udp_payload(Linktype::ETHERNET, &f, PortFilter::Any),
            Some(&b"x"[..])
        );
        assert_eq!(
            udp_payload(Linktype::ETHERNET, &f[..20], PortFilter::Any),
            None
        );
        assert_eq!(udp_payload(Linktype(999), &f, PortFilter::Any), None);
        // The same IPv6 packet under the BSD number of DLT_RAW.
        assert_eq!(
            udp_payload(Linktype(12), &f[18..], PortFilter::Any),
            Some(&b"x"[..])
        );
    }

    #[test]
    fn frames_read_through_the_packet_views() {
        // 802.3 length + LLC/SNAP (RFC 1042) + IPv4 + UDP: the Ethernet view follows SNAP.
        let ip = ipv4(&udp(6343, b"snap"));
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&((8 + ip.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(&ip);
        assert_eq!(
            udp_payload(Linktype::ETHERNET, &f, PortFilter::Any),
            Some(&b"snap"[..])
        );
        // IPv6 with an authentication header (RFC 4302: length in 4-byte units, minus 2).
        let u = udp(6343, b"ah");
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 0, 51, 64];
        ip6[4..6].copy_from_slice(&((16 + u.len()) as u16).to_be_bytes());
        ip6.extend_from_slice(&[0; 32]);
        ip6.extend_from_slice(&[17, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ip6.extend(u);
        assert_eq!(
            udp_payload(Linktype::RAW, &ip6, PortFilter::Any),
            Some(&b"ah"[..])
        );
        for n in 0..ip6.len() {
            let _ = udp_payload(Linktype::RAW, &ip6[..n], PortFilter::Any);
        }
    }

    #[test]
    fn later_fragments_and_other_protocols_are_skipped() {
        let mut ip = ipv4(&udp(6343, b"x"));
        ip[7] = 8; // fragment offset 8
        assert_eq!(udp_payload(Linktype::IPV4, &ip, PortFilter::Any), None);
        let mut ip = ipv4(&udp(6343, b"x"));
        ip[9] = 6;
        assert_eq!(udp_payload(Linktype::IPV4, &ip, PortFilter::Any), None);
    }

    #[test]
    fn not_a_capture() {
        let r = for_each_datagram(
            &b"hello, this is not a capture file"[..],
            PortFilter::Any,
            |_, _| {},
        );
        assert!(matches!(r, Err(CaptureError::NotACapture)));
    }
}
