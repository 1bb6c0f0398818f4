//! The compact per-sample record that crosses from a receive thread to a flow worker.
//!
//! Receive threads decode each datagram where it lands and hand workers these records, not
//! raw datagrams: the datagram buffer goes back to the kernel at once, and a worker touches
//! only the fields flow definitions can ask for. The record is plain `Copy` data.

use std::net::{IpAddr, Ipv4Addr};

use crate::packet::{Key, KeyFields, KeyValue, PacketKeys, Unreachable, L4};

/// One flow sample, reduced to what flow definitions, filters and events need.
///
/// Every data-source and interface value sFlow can carry survives here at full width: the
/// expanded sample form exists because real agents (Cisco NX-OS ifIndexes such as
/// 436207616 = 0x1A000000) use indexes of 2^24 and more, and interface values of 2^30 and
/// more, which the compact words cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRecord {
    /// Agent address from the datagram header.
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The sample's own fields, behind accessors ([`Self::source_index`] and the rest), so
    /// the decoder is free to store them in whatever form costs it least per sample.
    source_type: u32,
    source_index: u32,
    input: u32,
    output: u32,
    input_format: u8,
    output_format: u8,
    sampling_rate: u32,
    frame_length: u32,
    /// When the datagram was received, in nanoseconds of the monotonic clock
    /// ([`crate::record::monotonic_nanos`]); used for the receipt-to-send latency histogram.
    pub received_ns: u64,
    pub keys: PacketKeys,
}

impl Default for SampleRecord {
    /// An empty IPv4 sample (agent 0.0.0.0, no keys), for tests and synthetic inputs.
    fn default() -> Self {
        SampleRecord {
            agent: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            sub_agent: 0,
            source_type: 0,
            source_index: 0,
            input: 0,
            output: 0,
            input_format: 0,
            output_format: 0,
            sampling_rate: 0,
            frame_length: 0,
            received_ns: 0,
            keys: PacketKeys::default(),
        }
    }
}

impl SampleRecord {
    /// An empty record of a datagram from `agent` (its sub-agent and receive time): the
    /// decoder fills the sample's own fields and the keys.
    #[inline]
    pub fn new(agent: IpAddr, sub_agent: u32, received_ns: u64) -> Self {
        SampleRecord {
            agent,
            sub_agent,
            received_ns,
            ..SampleRecord::default()
        }
    }

    /// The record with this receive time (for building records in tests and generators).
    pub fn with_received_ns(mut self, received_ns: u64) -> Self {
        self.received_ns = received_ns;
        self
    }

    /// The record with these keys (for building records in tests and generators).
    pub fn with_keys(mut self, keys: PacketKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Data source type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry), the whole
    /// word of an expanded sample.
    #[inline]
    pub fn source_type(&self) -> u32 {
        self.source_type
    }

    /// Data source index (the ifIndex for interface data sources), all 32 bits.
    #[inline]
    pub fn source_index(&self) -> u32 {
        self.source_index
    }

    /// The data source index (ifIndex for interface data sources), as sFlow-RT's `dataSource`.
    #[inline]
    pub fn data_source(&self) -> u32 {
        self.source_index
    }

    /// Input interface value (ifIndex, discard reason or interface count, as
    /// [`Self::input_format`] says), all 32 bits.
    #[inline]
    pub fn input(&self) -> u32 {
        self.input
    }

    /// Output interface value, as [`Self::input`].
    #[inline]
    pub fn output(&self) -> u32 {
        self.output
    }

    /// Input interface format (0 ifIndex, 1 discarded, 2 multiple). A format above 255,
    /// which only a malformed expanded sample can carry, reads as 255: still not an ifIndex.
    #[inline]
    pub fn input_format(&self) -> u8 {
        self.input_format
    }

    /// Output interface format, as [`Self::input_format`].
    #[inline]
    pub fn output_format(&self) -> u8 {
        self.output_format
    }

    /// The input ifIndex, when the input is a single interface (see [`interface_index`]).
    #[inline]
    pub fn input_ifindex(&self) -> Option<u32> {
        interface_index(self.input_format, self.input)
    }

    /// The output ifIndex, as [`Self::input_ifindex`].
    #[inline]
    pub fn output_ifindex(&self) -> Option<u32> {
        interface_index(self.output_format, self.output)
    }

    /// One sample stands for this many packets.
    #[inline]
    pub fn sampling_rate(&self) -> u32 {
        self.sampling_rate
    }

    /// Original length of the sampled frame, in bytes.
    #[inline]
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }

    /// Set the data source (type and index, as an expanded sample carries them).
    #[inline]
    pub fn set_source(&mut self, source_type: u32, source_index: u32) {
        self.source_type = source_type;
        self.source_index = source_index;
    }

    /// Set the input interface (format as sent, saturated to 255, and value).
    #[inline]
    pub fn set_input(&mut self, format: u32, value: u32) {
        self.input_format = interface_format(format);
        self.input = value;
    }

    /// Set the output interface, as [`Self::set_input`].
    #[inline]
    pub fn set_output(&mut self, format: u32, value: u32) {
        self.output_format = interface_format(format);
        self.output = value;
    }

    #[inline]
    pub fn set_sampling_rate(&mut self, rate: u32) {
        self.sampling_rate = rate;
    }

    #[inline]
    pub fn set_frame_length(&mut self, length: u32) {
        self.frame_length = length;
    }

    /// [`Self::set_source`], by value (for building records in tests and generators).
    pub fn with_source(mut self, source_type: u32, source_index: u32) -> Self {
        self.set_source(source_type, source_index);
        self
    }

    /// [`Self::set_input`], by value.
    pub fn with_input(mut self, format: u32, value: u32) -> Self {
        self.set_input(format, value);
        self
    }

    /// [`Self::set_output`], by value.
    pub fn with_output(mut self, format: u32, value: u32) -> Self {
        self.set_output(format, value);
        self
    }

    /// [`Self::set_sampling_rate`], by value.
    pub fn with_sampling_rate(mut self, rate: u32) -> Self {
        self.set_sampling_rate(rate);
        self
    }

    /// [`Self::set_frame_length`], by value.
    pub fn with_frame_length(mut self, length: u32) -> Self {
        self.set_frame_length(length);
        self
    }

    /// Frames this sample stands for (sFlow-RT `frames`).
    pub fn frames(&self) -> u64 {
        u64::from(self.sampling_rate)
    }

    /// Bytes this sample stands for (sFlow-RT `bytes`).
    pub fn bytes(&self) -> u64 {
        u64::from(self.frame_length) * u64::from(self.sampling_rate)
    }

    /// An ICMP port-unreachable sample as the flow engine's tests and benchmarks use it:
    /// `responder` (`ipsource`) answered `scanner` (`ipdestination`) about UDP `port`,
    /// seen by `agent` on data source and input interface 3 (output 4), sampled 1 in
    /// 1000, a 70-byte frame. Callers change what their case needs with struct update
    /// syntax (`SampleRecord { source_index: 7, ..SampleRecord::port_unreachable(..) }`),
    /// so the fixture is written once rather than in every test module.
    #[doc(hidden)]
    pub fn port_unreachable(
        agent: IpAddr,
        responder: Ipv4Addr,
        scanner: Ipv4Addr,
        port: u16,
    ) -> SampleRecord {
        SampleRecord {
            agent,
            source_index: 3,
            input: 3,
            output: 4,
            sampling_rate: 1000,
            frame_length: 70,
            keys: KeyFields {
                ethernet_protocol: Some(0x0800),
                ip_source: Some(IpAddr::V4(responder)),
                ip_destination: Some(IpAddr::V4(scanner)),
                ip_protocol: Some(1),
                icmp_type: Some(3),
                icmp_code: Some(3),
                unreachable: Some(Unreachable::Port {
                    protocol: L4::Udp,
                    port,
                }),
                ..KeyFields::default()
            }
            .into(),
            ..SampleRecord::default()
        }
    }

    /// The value of any flow key for this sample, or `None` when the sample lacks it.
    pub fn key(&self, key: Key) -> Option<KeyValue> {
        match key {
            Key::Agent => Some(KeyValue::Ip(self.agent)),
            Key::InputIfIndex => self.input_ifindex().map(KeyValue::Number),
            Key::OutputIfIndex => self.output_ifindex().map(KeyValue::Number),
            other => self.keys.get(other),
        }
    }
}

/// Interface format as the record keeps it: formats past 255 saturate (see
/// [`SampleRecord::input_format`]).
pub fn interface_format(format: u32) -> u8 {
    u8::try_from(format).unwrap_or(u8::MAX)
}

/// The ifIndex of an sFlow interface, when it names a single interface
/// (format 0 and not the 0x3FFFFFFF "internal" value).
pub fn interface_index(format: u8, value: u32) -> Option<u32> {
    (format == 0 && value != 0x3FFF_FFFF).then_some(value)
}

/// Nanoseconds of `CLOCK_MONOTONIC`, the clock every `received_ns` is taken on.
pub fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_values() {
        assert_eq!(interface_index(0, 7), Some(7));
        assert_eq!(interface_index(0, 0x3FFF_FFFF), None);
        assert_eq!(interface_index(1, 1), None);
        assert_eq!(interface_index(2, 7), None);
        // Expanded samples carry ifIndexes of 2^30 and more.
        assert_eq!(interface_index(0, 0x4000_0001), Some(0x4000_0001));
        assert_eq!(interface_index(0, u32::MAX), Some(u32::MAX));
        assert_eq!(interface_format(7), 7);
        assert_eq!(interface_format(0x1_0000), 255);
    }

    #[test]
    fn full_width_data_source_and_interfaces() {
        let r = SampleRecord {
            source_type: 0,
            source_index: 0x1A00_0000,
            input: 0x4000_0005,
            output: 0x3FFF_FFFF,
            ..SampleRecord::default()
        };
        assert_eq!(r.data_source(), 0x1A00_0000);
        assert_eq!(
            r.key(Key::InputIfIndex),
            Some(KeyValue::Number(0x4000_0005))
        );
        assert_eq!(r.key(Key::OutputIfIndex), None, "internal");
    }

    #[test]
    fn record_stays_small() {
        // The record crosses a ring per sample: widening it must not grow it.
        assert!(std::mem::size_of::<SampleRecord>() <= 160);
        // The router's hint costs 32 bytes of ring per sample, no more.
        assert!(std::mem::size_of::<WorkItem>() <= std::mem::size_of::<SampleRecord>() + 40);
    }
}

/// What travels through a ring: a sample, the flow definitions (bit i = definition i)
/// that the receiving worker must apply to it, and the flow identity the router already
/// computed for the first of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    pub record: SampleRecord,
    pub definitions: u64,
    /// The identity of the sample's flow in the lowest definition of `definitions`, as
    /// the router computed it ([`FlowHint::NONE`] when it did not).
    pub hint: FlowHint,
}

impl WorkItem {
    /// An item without a hint: the worker packs and hashes the keys itself.
    pub fn new(record: SampleRecord, definitions: u64) -> WorkItem {
        WorkItem {
            record,
            definitions,
            hint: FlowHint::NONE,
        }
    }
}

/// A flow's identity in one definition, computed once by the router (which must pack and
/// hash the keys anyway, to choose the worker) and handed to the worker so that it does
/// neither again: at a million flows the worker's per-sample compute competes with its
/// memory misses, and packing plus hashing was over a third of it.
///
/// Only meaningful between a router and the workers built from the same flow
/// definitions in the same process (the hash is keyed per process); a worker handed a
/// hint from elsewhere would misplace flows, never misbehave otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowHint {
    /// The flow hash (definition seed, scope, packed key).
    pub hash: u64,
    /// The packed key's words (see `flow::key::PackedKey`), for keys of at most two words.
    pub key: [u64; 2],
    /// Meaningful words in `key`; 0 means no hint (keys wider than two words carry none).
    pub words: u8,
}

impl FlowHint {
    /// No hint.
    pub const NONE: FlowHint = FlowHint {
        hash: 0,
        key: [0; 2],
        words: 0,
    };

    /// Whether the hint carries an identity.
    #[inline]
    pub fn is_some(&self) -> bool {
        self.words != 0
    }
}

/// Chooses which workers must see a sample. The flow engine implements it; each receive
/// thread owns one and calls it for every flow sample, so it must not block or allocate.
pub trait Route: Send {
    /// Call `deliver(worker, definitions)` once for every worker that must see `record`,
    /// with the set of definitions it must apply. Calling it never means "drop the sample".
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, u64));

    /// [`Route::route`], also handing over each worker's [`FlowHint`] (for the lowest
    /// definition delivered to it). Routers that compute none need not implement it.
    fn route_hinted(
        &mut self,
        record: &SampleRecord,
        deliver: &mut dyn FnMut(usize, u64, FlowHint),
    ) {
        self.route(record, &mut |worker, definitions| {
            deliver(worker, definitions, FlowHint::NONE)
        });
    }
}
