//! Placeholder signature: helper "packet" replaces this file with the real decoder.

use super::PacketKeys;

/// A decoded sampled header: the flow keys, and where layers start (for tools that report
/// sizes relative to a layer, such as sflowtool's IP size column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodedHeader {
    pub keys: PacketKeys,
    /// Offset of the IPv4 or IPv6 header within the sampled bytes, when one was found.
    pub network_offset: Option<u16>,
}

/// Decode a sampled header of the given sFlow header protocol (1 Ethernet, 11 IPv4, 12 IPv6).
pub fn decode_header(_header_protocol: u32, _bytes: &[u8]) -> DecodedHeader {
    DecodedHeader::default()
}
