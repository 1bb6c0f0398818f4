//! Sampled-header decoding: from the first bytes of a sampled frame to the flow keys.
//!
//! The decoder fills a [`PacketKeys`] value; flow definitions, filters and syslog events
//! then read keys by their sFlow-RT names through [`Key`].

pub mod header;
pub mod keys;

pub use header::{decode_header, DecodedHeader};
pub use keys::{Key, KeyValue, PacketKeys, Unreachable, L4};
