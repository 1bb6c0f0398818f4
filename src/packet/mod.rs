//! Sampled-header decoding: from the first bytes of a sampled frame to the flow keys.
//!
//! The decoder fills a [`PacketKeys`] value; flow definitions, filters and syslog events
//! then read keys by their sFlow-RT names through [`Key`].
//!
//! Layout follows smoltcp's `wire`: one module per protocol ([`ethernet`], [`ipv4`],
//! [`ipv6`], [`transport`]) holding a zero-copy view whose checked constructor validates the
//! length once, so its getters can never read past the bytes; [`header`] walks the layers
//! and derives the keys, including the ICMP destination-unreachable ones. [`fast`] decodes
//! the one frame shape most samples have (Ethernet, optional 802.1Q tag, IPv4 without
//! options) in straight-line code for the receive path, with the same results.

// The decoders read untrusted bytes: no panicking accessor outside their tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod ethernet;
// The tests of these two (in their files) unwrap and index; their code is held to the rule.
#[cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
pub mod fast;
#[cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
pub mod header;
pub mod ipv4;
pub mod ipv6;
pub mod keys;
pub mod transport;

pub use header::{decode_header, decode_header_keys, DecodedHeader, HeaderLayout, HeaderProtocol};
pub use keys::{
    InnerKeys, Key, KeyFields, KeyValue, PacketKeys, TunnelKind, Unreachable, L4, MAX_DEPTH,
};

/// Why a protocol view could not be built over some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes end before the fixed part of the header does (sampled headers are cut short).
    Truncated,
    /// The bytes are long enough but cannot be this protocol (wrong version, impossible length).
    Malformed,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "header truncated",
            Error::Malformed => "header malformed",
        })
    }
}

impl std::error::Error for Error {}

/// `N` bytes at `at`, as an array reference so that constant indexing needs no further check;
/// `None` when the bytes end first.
#[inline(always)]
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<&[u8; N]> {
    bytes.get(at..)?.first_chunk::<N>()
}

/// Big-endian `u16` at `at`, or `None` past the end.
#[inline(always)]
pub(crate) fn be16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at::<2>(bytes, at).map(|b| u16::from_be_bytes(*b))
}
