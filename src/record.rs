//! The compact per-sample record that crosses from a receive thread to a flow worker.
//!
//! Receive threads decode each datagram where it lands and hand workers these records, not
//! raw datagrams: the datagram buffer goes back to the kernel at once, and a worker touches
//! only the fields flow definitions can ask for. The record is plain `Copy` data.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::packet::{InnerKeys, Key, KeyFields, KeyValue, PacketKeys, TunnelKind, Unreachable, L4};
use crate::sflow::layout::{expanded_flow_sample, flow_sample};

/// One flow sample, reduced to what flow definitions, filters and events need.
///
/// Every data-source and interface value sFlow can carry survives here at full width: the
/// expanded sample form exists because real agents (Cisco NX-OS ifIndexes such as
/// 436207616 = 0x1A000000) use indexes of 2^24 and more, and interface values of 2^30 and
/// more, which the compact words cannot hold.
///
/// The sample's own fields are read through accessors because they are kept in one of two
/// forms (the private `SampleFields`): the compact flow sample's words as sent, which the
/// receive path stores with two copies instead of splitting and byte-swapping six fields
/// per sample (a worker reads a few of them once, the decoder writes all of them for every
/// sample), or decoded words, which every setter gives. Equality and `Debug` look at the
/// decoded values only, so two records are equal whatever their forms.
#[derive(Clone, Copy)]
pub struct SampleRecord {
    /// Agent address from the datagram header.
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The sample's own fields, behind accessors ([`Self::sequence`],
    /// [`Self::source_index`] and the rest).
    sample: SampleFields,
    /// When the datagram was received, in nanoseconds of the monotonic clock
    /// ([`crate::clock::monotonic_nanos`]); used for the receipt-to-send latency histogram.
    pub received_ns: u64,
    /// The outermost header's keys (the plain key names).
    pub keys: PacketKeys,
    /// The keys of the headers inside tunnels (the `.N` key names), as many levels as
    /// `keys.depth()` says; see [`Self::level_keys`].
    pub inner: InnerKeys,
}

/// A record's per-sample fields, as big-endian words in one of two layouts, told apart by
/// `compact`:
///
/// | bytes of `words` | compact (as sent) | decoded |
/// |---|---|---|
/// | 0..4 | sequence number | sequence number |
/// | 4..8 | source word (type << 24 \| index) | source type |
/// | 8..12 | sampling rate | sampling rate |
/// | 12..16 | sample pool (not read) | source index |
/// | 16..20 | drops (not read) | input format, output format, 0, 0 |
/// | 20..24 | input word (format << 30 \| value) | input value |
/// | 24..28 | output word | output value |
///
/// The compact layout is bytes 0..28 of a compact flow sample, so the decoder copies them
/// whole. The sequence number, the rate and the frame length sit at the same place in both
/// forms.
#[derive(Clone, Copy)]
struct SampleFields {
    words: [u8; 28],
    frame_length: [u8; 4],
    compact: bool,
}

impl SampleFields {
    /// All zero: source 0:0, interfaces 0 (format 0), rate and length 0.
    const ZERO: SampleFields = SampleFields {
        words: [0; 28],
        frame_length: [0; 4],
        compact: false,
    };

    #[inline(always)]
    fn word(&self, at: usize) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.words[at..at + 4]);
        u32::from_be_bytes(w)
    }

    #[inline(always)]
    fn set_word(&mut self, at: usize, value: u32) {
        self.words[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[inline(always)]
    fn source_index(&self) -> u32 {
        if self.compact {
            self.word(4) & 0x00FF_FFFF
        } else {
            self.word(12)
        }
    }

    #[inline(always)]
    fn sequence(&self) -> u32 {
        self.word(0)
    }

    #[inline(always)]
    fn sampling_rate(&self) -> u32 {
        self.word(8)
    }

    #[inline(always)]
    fn frame_length(&self) -> u32 {
        u32::from_be_bytes(self.frame_length)
    }
}

impl Default for SampleRecord {
    /// An empty IPv4 sample (agent 0.0.0.0, no keys), for tests and synthetic inputs.
    fn default() -> Self {
        SampleRecord {
            agent: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            sub_agent: 0,
            sample: SampleFields::ZERO,
            received_ns: 0,
            keys: PacketKeys::EMPTY,
            inner: InnerKeys::empty(),
        }
    }
}

impl PartialEq for SampleRecord {
    /// Equal when every public field and every accessor is, whatever the sample fields' form.
    fn eq(&self, other: &Self) -> bool {
        self.agent == other.agent
            && self.sub_agent == other.sub_agent
            && self.sequence() == other.sequence()
            && self.received_ns == other.received_ns
            && self.keys == other.keys
            && (1..=self.keys.depth()).all(|n| self.level_keys(n) == other.level_keys(n))
            && self.decoded() == other.decoded()
    }
}

impl Eq for SampleRecord {}

impl fmt::Debug for SampleRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SampleRecord")
            .field("agent", &self.agent)
            .field("sub_agent", &self.sub_agent)
            .field("sequence", &self.sequence())
            .field("source_type", &self.source_type())
            .field("source_index", &self.source_index())
            .field("input_format", &self.input_format())
            .field("input", &self.input())
            .field("output_format", &self.output_format())
            .field("output", &self.output())
            .field("sampling_rate", &self.sampling_rate())
            .field("frame_length", &self.frame_length())
            .field("received_ns", &self.received_ns)
            .field("keys", &self.keys)
            .field(
                "inner",
                &(1..=self.keys.depth())
                    .filter_map(|n| self.level_keys(n))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SampleRecord {
    /// An empty record of a datagram from `agent` (its sub-agent and receive time): the
    /// decoder fills the sample's own fields and the keys.
    ///
    /// Built field by field from constants, in place: the receive path makes one per
    /// datagram, and a default-then-move copied the whole record through `memcpy`.
    #[inline(always)]
    pub fn new(agent: IpAddr, sub_agent: u32, received_ns: u64) -> Self {
        SampleRecord {
            agent,
            sub_agent,
            sample: SampleFields::ZERO,
            received_ns,
            keys: PacketKeys::EMPTY,
            inner: InnerKeys::empty(),
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

    /// The flow sample's sequence number (per data source): with the agent, sub-agent and
    /// data source it names the sample, and so the `event_id` of the flow it opens.
    #[inline]
    pub fn sequence(&self) -> u32 {
        self.sample.sequence()
    }

    /// Data source type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry), the whole
    /// word of an expanded sample.
    #[inline]
    pub fn source_type(&self) -> u32 {
        let w = self.sample.word(4);
        if self.sample.compact {
            w >> 24
        } else {
            w
        }
    }

    /// Data source index (the ifIndex for interface data sources), all 32 bits.
    #[inline]
    pub fn source_index(&self) -> u32 {
        self.sample.source_index()
    }

    /// The data source index (ifIndex for interface data sources), as sFlow-RT's `dataSource`.
    #[inline]
    pub fn data_source(&self) -> u32 {
        self.source_index()
    }

    /// Input interface value (ifIndex, discard reason or interface count, as
    /// [`Self::input_format`] says), all 32 bits.
    #[inline]
    pub fn input(&self) -> u32 {
        self.interface_value(20)
    }

    /// Output interface value, as [`Self::input`].
    #[inline]
    pub fn output(&self) -> u32 {
        self.interface_value(24)
    }

    /// Input interface format (0 ifIndex, 1 discarded, 2 multiple). A format above 255,
    /// which only a malformed expanded sample can carry, reads as 255: still not an ifIndex.
    #[inline]
    pub fn input_format(&self) -> u8 {
        self.interface_format(20, 16)
    }

    /// Output interface format, as [`Self::input_format`].
    #[inline]
    pub fn output_format(&self) -> u8 {
        self.interface_format(24, 17)
    }

    /// The value of the interface whose word is at `at`: a compact word's low 30 bits.
    #[inline(always)]
    fn interface_value(&self, at: usize) -> u32 {
        let w = self.sample.word(at);
        if self.sample.compact {
            w & 0x3FFF_FFFF
        } else {
            w
        }
    }

    /// The format of the interface whose compact word is at `at` (its top two bits) or
    /// whose decoded format byte is at `decoded`.
    #[inline(always)]
    fn interface_format(&self, at: usize, decoded: usize) -> u8 {
        if self.sample.compact {
            (self.sample.word(at) >> 30) as u8
        } else {
            self.sample.words[decoded]
        }
    }

    /// The input ifIndex, when the input is a single interface (see [`interface_index`]).
    #[inline]
    pub fn input_ifindex(&self) -> Option<u32> {
        interface_index(self.input_format(), self.input())
    }

    /// The output ifIndex, as [`Self::input_ifindex`].
    #[inline]
    pub fn output_ifindex(&self) -> Option<u32> {
        interface_index(self.output_format(), self.output())
    }

    /// One sample stands for this many packets.
    #[inline]
    pub fn sampling_rate(&self) -> u32 {
        self.sample.sampling_rate()
    }

    /// Original length of the sampled frame, in bytes.
    #[inline]
    pub fn frame_length(&self) -> u32 {
        self.sample.frame_length()
    }

    /// Every per-sample field, decoded (for comparing records of different forms).
    fn decoded(&self) -> (u32, u32, u8, u32, u8, u32, u32, u32) {
        (
            self.source_type(),
            self.source_index(),
            self.input_format(),
            self.input(),
            self.output_format(),
            self.output(),
            self.sampling_rate(),
            self.frame_length(),
        )
    }

    /// A record whose sample fields [`Self::set_compact_words`] and
    /// [`Self::set_expanded_words`] fill: as [`Self::new`], in the compact form (all zero
    /// reads the same in both forms).
    #[inline(always)]
    pub(crate) fn new_compact(agent: IpAddr, sub_agent: u32, received_ns: u64) -> Self {
        let mut record = SampleRecord::new(agent, sub_agent, received_ns);
        record.sample.compact = true;
        record
    }

    /// Store a compact flow sample's fields as sent: `fixed` is the sample's fixed part,
    /// whose words from the data source to the output interface are kept; `frame_length` is
    /// the sampled header's frame length, big-endian. The receive walk's per-sample store,
    /// copied straight from the datagram. The record must be in the compact form, as
    /// [`Self::new_compact`] makes it and [`Self::restore_compact`] gives it back after an
    /// expanded sample: the usual sample stores no form.
    #[inline(always)]
    pub(crate) fn set_compact_words(
        &mut self,
        fixed: &[u8; flow_sample::LEN],
        frame_length: [u8; 4],
    ) {
        if let Some(words) = fixed.first_chunk::<{ flow_sample::RECORD_COUNT }>() {
            self.sample.words = *words;
        }
        self.sample.frame_length = frame_length;
    }

    /// Back to the compact form after [`Self::set_expanded_words`], once the expanded
    /// sample was shown, so that [`Self::set_compact_words`] finds it.
    #[inline(always)]
    pub(crate) fn restore_compact(&mut self) {
        self.sample.compact = true;
    }

    /// Store an expanded flow sample's fields in the decoded form, copied word by word from
    /// its fixed part `fixed` (the formats saturated to a byte); `frame_length` as for
    /// [`Self::set_compact_words`].
    #[inline(always)]
    pub(crate) fn set_expanded_words(
        &mut self,
        fixed: &[u8; expanded_flow_sample::LEN],
        frame_length: [u8; 4],
    ) {
        use expanded_flow_sample as x;
        let word = |at: usize| {
            let mut w = [0u8; 4];
            if let Some(b) = fixed.get(at..at + 4) {
                w.copy_from_slice(b);
            }
            w
        };
        let s = &mut self.sample;
        for (at, from) in [
            (0, x::SEQUENCE),
            (4, x::SOURCE_TYPE),
            (8, x::SAMPLING_RATE),
            (12, x::SOURCE_INDEX),
            (20, x::INPUT_VALUE),
            (24, x::OUTPUT_VALUE),
        ] {
            if let Some(to) = s.words.get_mut(at..at + 4) {
                to.copy_from_slice(&word(from));
            }
        }
        let input = interface_format(u32::from_be_bytes(word(x::INPUT_FORMAT)));
        let output = interface_format(u32::from_be_bytes(word(x::OUTPUT_FORMAT)));
        if let Some(formats) = s.words.get_mut(16..20) {
            formats.copy_from_slice(&[input, output, 0, 0]);
        }
        s.frame_length = frame_length;
        s.compact = false;
    }

    /// Turn compact fields into the decoded form (same values), so that a setter can
    /// change one of them.
    #[inline]
    fn decode_fields(&mut self) {
        if self.sample.compact {
            let (source_type, source_index) = (self.source_type(), self.source_index());
            let (input_format, input) = (self.input_format(), self.input());
            let (output_format, output) = (self.output_format(), self.output());
            let s = &mut self.sample;
            s.set_word(4, source_type);
            s.set_word(12, source_index);
            s.words[16..20].copy_from_slice(&[input_format, output_format, 0, 0]);
            s.set_word(20, input);
            s.set_word(24, output);
            s.compact = false;
        }
    }

    /// Set the data source (type and index, as an expanded sample carries them).
    #[inline]
    pub fn set_source(&mut self, source_type: u32, source_index: u32) {
        self.decode_fields();
        self.sample.set_word(4, source_type);
        self.sample.set_word(12, source_index);
    }

    /// Set the input interface (format as sent, saturated to 255, and value).
    #[inline]
    pub fn set_input(&mut self, format: u32, value: u32) {
        self.decode_fields();
        self.sample.words[16] = interface_format(format);
        self.sample.set_word(20, value);
    }

    /// Set the output interface, as [`Self::set_input`].
    #[inline]
    pub fn set_output(&mut self, format: u32, value: u32) {
        self.decode_fields();
        self.sample.words[17] = interface_format(format);
        self.sample.set_word(24, value);
    }

    /// The sequence number sits at the same place in both forms: no conversion.
    #[inline]
    pub fn set_sequence(&mut self, sequence: u32) {
        self.sample.set_word(0, sequence);
    }

    /// The rate sits at the same place in both forms: no conversion.
    #[inline]
    pub fn set_sampling_rate(&mut self, rate: u32) {
        self.sample.set_word(8, rate);
    }

    #[inline]
    pub fn set_frame_length(&mut self, length: u32) {
        self.sample.frame_length = length.to_be_bytes();
    }

    /// [`Self::set_sequence`], by value (for building records in tests and generators).
    pub fn with_sequence(mut self, sequence: u32) -> Self {
        self.set_sequence(sequence);
        self
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
        u64::from(self.sampling_rate())
    }

    /// Bytes this sample stands for (sFlow-RT `bytes`).
    pub fn bytes(&self) -> u64 {
        u64::from(self.frame_length()) * u64::from(self.sampling_rate())
    }

    /// An ICMP port-unreachable sample as the flow engine's tests and benchmarks use it:
    /// `responder` (`ipsource`) answered `scanner` (`ipdestination`) about UDP `port`,
    /// seen by `agent` on data source and input interface 3 (output 4), sampled 1 in
    /// 1000, a 70-byte frame. Callers change what their case needs with the setters
    /// (`set_source(0, 7)`), so the fixture is written once rather than in every test module.
    #[doc(hidden)]
    pub fn port_unreachable(
        agent: IpAddr,
        responder: Ipv4Addr,
        scanner: Ipv4Addr,
        port: u16,
    ) -> SampleRecord {
        SampleRecord {
            agent,
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
        .with_source(0, 3)
        .with_input(0, 3)
        .with_output(0, 4)
        .with_sampling_rate(1000)
        .with_frame_length(70)
    }

    /// The value of any flow key for this sample, or `None` when the sample lacks it
    /// (a `.N` key when the sample has fewer than N tunnel levels).
    pub fn key(&self, key: Key) -> Option<KeyValue> {
        match key {
            Key::Agent => Some(KeyValue::Ip(self.agent)),
            Key::InputIfIndex => self.input_ifindex().map(KeyValue::Number),
            Key::OutputIfIndex => self.output_ifindex().map(KeyValue::Number),
            other => self.level_keys(other.level())?.get(other),
        }
    }

    /// The keys of tunnel level `level`: 0 the outermost header, N the header inside the
    /// N-th tunnel; `None` past the levels the sample has.
    #[inline]
    pub fn level_keys(&self, level: usize) -> Option<&PacketKeys> {
        if level == 0 {
            return Some(&self.keys);
        }
        if level > self.keys.depth() {
            return None;
        }
        self.inner.level(level)
    }

    /// The tunnels the sampled header went through, outermost first: each with the keys
    /// of the header that carries it (its addresses are the tunnel's endpoints), and
    /// whether its contents were decoded.
    pub fn tunnels(&self) -> impl Iterator<Item = (TunnelKind, &PacketKeys, bool)> + '_ {
        let depth = self.keys.depth();
        (0..=depth).filter_map(move |level| {
            let keys = self.level_keys(level)?;
            Some((keys.tunnel()?, keys, level < depth))
        })
    }
}

/// What a flow worker needs of a sample besides its flow's identity: who sent it, which
/// sample it is (for `event_id`), what it stands for (frames, bytes) and when it arrived.
///
/// The ring between a receive thread and a worker carries this, not the [`SampleRecord`]:
/// the router packs and hashes each definition's keys where the record is hot (and is the
/// only one that can: the tunnel levels' keys do not travel), so a worker never reads the
/// header keys, and the ring item stays a third of the record's size.
#[derive(Clone, Copy)]
pub struct WorkSample {
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The sample's own fields, as the record has them.
    sample: SampleFields,
    /// When the datagram was received ([`SampleRecord::received_ns`]).
    pub received_ns: u64,
}

impl WorkSample {
    /// The flow sample's sequence number (see [`SampleRecord::sequence`]).
    #[inline]
    pub fn sequence(&self) -> u32 {
        self.sample.sequence()
    }

    /// The data source index (ifIndex for interface data sources), as sFlow-RT's `dataSource`.
    #[inline]
    pub fn data_source(&self) -> u32 {
        self.sample.source_index()
    }

    #[inline]
    pub fn sampling_rate(&self) -> u32 {
        self.sample.sampling_rate()
    }

    #[inline]
    pub fn frame_length(&self) -> u32 {
        self.sample.frame_length()
    }

    /// Frames this sample stands for (sFlow-RT `frames`).
    #[inline]
    pub fn frames(&self) -> u64 {
        u64::from(self.sampling_rate())
    }

    /// Bytes this sample stands for (sFlow-RT `bytes`).
    #[inline]
    pub fn bytes(&self) -> u64 {
        u64::from(self.frame_length()) * u64::from(self.sampling_rate())
    }
}

impl fmt::Debug for WorkSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkSample")
            .field("agent", &self.agent)
            .field("sub_agent", &self.sub_agent)
            .field("sequence", &self.sequence())
            .field("data_source", &self.data_source())
            .field("sampling_rate", &self.sampling_rate())
            .field("frame_length", &self.frame_length())
            .field("received_ns", &self.received_ns)
            .finish()
    }
}

impl From<&SampleRecord> for WorkSample {
    #[inline(always)]
    fn from(r: &SampleRecord) -> WorkSample {
        WorkSample {
            agent: r.agent,
            sub_agent: r.sub_agent,
            sample: r.sample,
            received_ns: r.received_ns,
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
        let r = SampleRecord::default()
            .with_source(0, 0x1A00_0000)
            .with_input(0, 0x4000_0005)
            .with_output(0, 0x3FFF_FFFF);
        assert_eq!(r.data_source(), 0x1A00_0000);
        assert_eq!(
            r.key(Key::InputIfIndex),
            Some(KeyValue::Number(0x4000_0005))
        );
        assert_eq!(r.key(Key::OutputIfIndex), None, "internal");
    }

    /// A compact flow sample's fixed part: sequence 9, source 1:0x00ABCDEF, rate 512, pool,
    /// drops, input discarded (format 1, reason 0x3FFFFFFF), output ifIndex 0x1234, 2 records.
    const COMPACT: [u8; 32] = [
        0, 0, 0, 9, 0x01, 0xAB, 0xCD, 0xEF, 0, 0, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xEE, 0xEE, 0xEE,
        0xEE, 0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x12, 0x34, 0, 0, 0, 2,
    ];

    fn compact(frame_length: [u8; 4]) -> SampleRecord {
        let mut r = SampleRecord::new_compact(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, 0);
        r.set_compact_words(&COMPACT, frame_length);
        r
    }

    #[test]
    fn compact_fields_read_as_decoded() {
        let r = compact([0, 0, 0x05, 0xEE]);
        assert_eq!((r.source_type(), r.source_index()), (1, 0x00AB_CDEF));
        assert_eq!((r.input_format(), r.input()), (1, 0x3FFF_FFFF));
        assert_eq!((r.output_format(), r.output()), (0, 0x1234));
        assert_eq!(
            (r.input_ifindex(), r.output_ifindex()),
            (None, Some(0x1234))
        );
        assert_eq!((r.sampling_rate(), r.frame_length()), (512, 1518));
        assert_eq!(r.bytes(), 512 * 1518);
        // The same values through the setters: equal records, the same `Debug`.
        let d = SampleRecord::default()
            .with_source(1, 0x00AB_CDEF)
            .with_input(1, 0x3FFF_FFFF)
            .with_output(0, 0x1234)
            .with_sampling_rate(512)
            .with_frame_length(1518);
        // The compact fixture's sequence number (9) is the one field the setters lack.
        assert_eq!(r.sequence(), 9);
        let d = d.with_sequence(9);
        assert_eq!(r, d);
        assert_eq!(format!("{r:?}"), format!("{d:?}"));
        assert_ne!(r, d.with_output(0, 0x1235));
        assert_ne!(r, d.with_source(0, 0x00AB_CDEF));
    }

    #[test]
    fn setters_on_compact_fields_keep_the_others() {
        let mut r = compact([0, 0, 0, 64]);
        r.set_output(0, 0x4000_0000);
        assert_eq!((r.source_type(), r.source_index()), (1, 0x00AB_CDEF));
        assert_eq!((r.input_format(), r.input()), (1, 0x3FFF_FFFF));
        assert_eq!((r.output_format(), r.output()), (0, 0x4000_0000));
        assert_eq!((r.sampling_rate(), r.frame_length()), (512, 64));
        let mut r2 = compact([0, 0, 0, 64]);
        r2.set_source(0x1_0000, 7);
        r2.set_input(300, 9);
        assert_eq!((r2.source_type(), r2.source_index()), (0x1_0000, 7));
        assert_eq!((r2.input_format(), r2.input()), (255, 9));
        assert_eq!((r2.output_format(), r2.output()), (0, 0x1234));
    }

    #[test]
    fn work_sample_keeps_every_field_a_worker_reads() {
        let r = compact([0, 0, 0x05, 0xEE]).with_received_ns(77);
        let w = WorkSample::from(&r);
        assert_eq!((w.agent, w.sub_agent, w.sequence()), (r.agent, 0, 9));
        assert_eq!((w.data_source(), w.sampling_rate()), (0x00AB_CDEF, 512));
        assert_eq!(
            (w.frame_length(), w.frames(), w.bytes()),
            (1518, 512, 512 * 1518)
        );
        assert_eq!(w.received_ns, 77);
        let d = WorkSample::from(&r.with_source(0, 0x1A00_0000));
        assert_eq!(d.data_source(), 0x1A00_0000);
    }

    #[test]
    fn work_sample_stays_one_line() {
        // It crosses a ring per sample and definition.
        assert!(std::mem::size_of::<WorkSample>() <= 64);
    }
}
