//! Sampled-header decoding: from the first bytes of a sampled frame to the flow keys.
//!
//! The decoder fills a [`PacketKeys`] value; flow definitions, filters and syslog events
//! then read keys by their sFlow-RT names through [`Key`].

pub mod keys;

pub use keys::{Key, KeyValue, PacketKeys, Unreachable, L4};
