//! sFlow v5 wire decoding: zero-copy, allocation-free, panic-free views over a datagram.
//!
//! # Two ways in
//!
//! **The receive path** calls [`decode_datagram`] once per datagram, right where it landed:
//!
//! ```
//! use flowsift::sflow::{decode_datagram, FlowSampleMeta, Visitor};
//! use flowsift::record::SampleRecord;
//!
//! struct Collect(Vec<SampleRecord>);
//! impl Visitor for Collect {
//!     fn flow_sample(&mut self, _meta: &FlowSampleMeta, record: &SampleRecord) {
//!         self.0.push(*record);
//!     }
//! }
//! # let datagram: &[u8] = &[0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0,
//! #                         0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
//! let mut out = Collect(Vec::new());
//! let header = decode_datagram(datagram, 0, &mut out).expect("valid header");
//! assert_eq!(header.sequence, 1);
//! ```
//!
//! The [`Visitor`] hears, in datagram order: the [`DatagramHeader`] (agent IPv4/IPv6,
//! sub-agent, sequence, uptime, sample count); each flow sample (compact or expanded) as a
//! [`FlowSampleMeta`] (sample sequence number, data source, sampling rate, sample pool,
//! drops: what per-data-source loss accounting needs) plus the
//! [`crate::record::SampleRecord`] with every field filled, its keys decoded from the
//! sampled header by [`crate::packet::decode_header`]; each counter sample
//! ([`CounterSampleMeta`]: data source and sequence); each discarded-packet sample
//! ([`DiscardSampleMeta`]); each unknown sample or record type (so callers can count them
//! per (enterprise, format)); and each sample that failed ([`SampleError`]). All methods
//! default to no-ops. One bad sample never loses the others: every sample and record is
//! skipped by its declared length. `decode_datagram` itself fails only when the datagram
//! header is unusable.
//!
//! **Tools** (`flowsift decode`) use the typed views directly: [`Datagram`] (smoltcp-style
//! `new_checked` + one accessor per field), [`Datagram::samples`] yielding tagged
//! [`Element`]s, [`FlowSample`], [`CounterSample`], [`DiscardSample`], and the record
//! parsers [`FlowRecord::parse`] and [`CounterRecord::parse`]. The tools' own parts live
//! outside this module: [`crate::capture`] (sFlow datagrams out of pcap/pcapng files) and
//! [`crate::decode_tool`] (`sflowtool -l` lines and JSON Lines).
//!
//! # Guarantees
//!
//! - No panic and no out-of-bounds read on any input: views check their fixed part once in
//!   `new_checked`; variable structures are read through a bounds-checked cursor.
//! - No allocation: views borrow the datagram; lists (samples, records, AS path segments,
//!   adapters) are walked lazily, and no declared count or length ever sizes a buffer.
//! - Unknown values are carried, not rejected (`Unknown(n)` variants, unknown tags).
//!
//! What is decoded: samples 1-5; flow records 1-4, 1001-1005, 1021-1030 (tunnels, decap,
//! VNI), 1036-1042 (drop notification), 2100-2101 (sockets); counter records 1, 2, 5, 7,
//! 1001, 1004, 1005, 2000-2010. Everything else is reported as unknown.

// The decoders read untrusted bytes: no panicking accessor outside their tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod counter;
mod datagram;
mod error;
mod flow_record;
pub mod layout;
// Its tests (`receive/tests.rs`) unwrap and index; its code is held to the rule.
#[cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
mod receive;
mod sample;
mod xdr;

pub use counter::{
    format as counter_format, CounterRecord, CounterValue, EthernetCounters, GenericInterface,
    HostAdapter, HostAdapters, HostCpu, HostDescription, HostDiskIo, HostMemory, HostNetIo,
    HostParent, LacpCounters, Mib2Icmp, Mib2Ip, Mib2Tcp, Mib2Udp, OpenFlowPort, ProcessorCounters,
    VlanCounters,
};
pub use datagram::{AddressType, Datagram, DatagramHeader, Element, Elements, Tag};
pub use error::{DecodeError, SampleError, Structure};
pub use flow_record::{
    format as flow_format, AsPath, AsPathSegment, ExtendedAcl, ExtendedGateway, ExtendedHwTrap,
    ExtendedRouter, ExtendedSocket, ExtendedSwitch, ExtendedUrl, ExtendedUser, FlowRecord,
    SampledEthernet, SampledHeader, SampledIp, Words,
};

#[doc(hidden)]
pub use receive::decode_datagram_general;
pub use receive::{decode_datagram, CounterSampleMeta, DiscardSampleMeta, FlowSampleMeta, Visitor};
pub use sample::{
    fold_source_id, format as sample_format, CounterSample, DiscardSample, FlowSample, Interface,
    SampleKind,
};

/// Whether a flow record tag has a typed view here.
pub fn is_known_flow_record(tag: Tag) -> bool {
    flow_record::is_known(tag)
}

/// Whether a counter record tag has a typed view here.
pub fn is_known_counter_record(tag: Tag) -> bool {
    counter::is_known(tag)
}
