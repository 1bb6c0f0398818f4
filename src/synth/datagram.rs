//! The sFlow v5 datagram encoder: the XDR structure (header, flow and expanded flow
//! samples, counter and expanded counter samples; the records inside them are `record`'s),
//! appended into one reusable buffer.

use std::net::IpAddr;

use super::format;
use super::record::{GenericInterface, RecordSpec};

/// Fields of a flow sample other than its records. `input` and `output` are the compact
/// interface words (format in the top two bits); the expanded form splits them, unless
/// `wide_interfaces` gives its words at full width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSampleHeader {
    pub sequence: u32,
    /// Source-id type (0 ifIndex, 1 VLAN, 2 entity).
    pub source_type: u8,
    /// Source-id index (24 bits in the compact form; a full word in the expanded one).
    pub source_index: u32,
    pub sampling_rate: u32,
    pub sample_pool: u32,
    pub drops: u32,
    pub input: u32,
    pub output: u32,
    /// The expanded form's interface words as sent, for what the compact words cannot
    /// carry (values of 2^30 and more, formats above 3); the compact form ignores them.
    pub wide_interfaces: Option<WideInterfaces>,
}

/// An expanded flow sample's input and output interfaces, each a (format, value) pair of
/// full 32-bit words (sflow_version_5.txt "interface_expanded").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WideInterfaces {
    pub input_format: u32,
    pub input_value: u32,
    pub output_format: u32,
    pub output_value: u32,
}

/// Builds one sFlow v5 datagram in place.
///
/// The sample count in the header is patched as samples are added, so the bytes are a
/// valid datagram after every call.
#[derive(Clone, Debug)]
pub struct DatagramBuilder {
    buf: Vec<u8>,
    /// Offset of the header's sample-count word.
    count_at: usize,
    samples: u32,
}

impl DatagramBuilder {
    /// A datagram with no samples yet.
    pub fn new(agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) -> Self {
        Self::with_buffer(
            Vec::with_capacity(1500),
            agent,
            sub_agent,
            sequence,
            uptime_ms,
        )
    }

    /// Like [`DatagramBuilder::new`], reusing `buf`'s allocation (its contents are discarded).
    pub fn with_buffer(
        mut buf: Vec<u8>,
        agent: IpAddr,
        sub_agent: u32,
        sequence: u32,
        uptime_ms: u32,
    ) -> Self {
        buf.clear();
        let mut b = DatagramBuilder {
            buf,
            count_at: 0,
            samples: 0,
        };
        b.write_header(agent, sub_agent, sequence, uptime_ms);
        b
    }

    /// Start over with a new header, keeping the allocation.
    pub fn reset(&mut self, agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) {
        self.buf.clear();
        self.samples = 0;
        self.write_header(agent, sub_agent, sequence, uptime_ms);
    }

    /// The datagram header, in the order of [`crate::sflow::layout::datagram`].
    fn write_header(&mut self, agent: IpAddr, sub_agent: u32, sequence: u32, uptime_ms: u32) {
        use crate::sflow::layout::datagram as dg;
        self.u32(dg::VERSION_5);
        self.address(agent);
        self.u32(sub_agent);
        self.u32(sequence);
        self.u32(uptime_ms);
        self.count_at = self.buf.len();
        self.u32(0);
    }

    /// Add a flow sample (format 1). The source index is cut to 24 bits.
    pub fn flow_sample(&mut self, h: &FlowSampleHeader, records: &[RecordSpec<'_>]) -> &mut Self {
        let start = self.open_sample(format::FLOW_SAMPLE);
        self.u32(h.sequence);
        self.u32((u32::from(h.source_type) << 24) | (h.source_index & 0x00FF_FFFF));
        self.u32(h.sampling_rate);
        self.u32(h.sample_pool);
        self.u32(h.drops);
        self.u32(h.input);
        self.u32(h.output);
        self.records(records);
        self.close_sample(start);
        self
    }

    /// Add an expanded flow sample (format 3): source id and interfaces as separate words
    /// (the interfaces from `h.wide_interfaces` when given).
    pub fn expanded_flow_sample(
        &mut self,
        h: &FlowSampleHeader,
        records: &[RecordSpec<'_>],
    ) -> &mut Self {
        let start = self.open_sample(format::EXPANDED_FLOW_SAMPLE);
        self.u32(h.sequence);
        self.u32(u32::from(h.source_type));
        self.u32(h.source_index);
        self.u32(h.sampling_rate);
        self.u32(h.sample_pool);
        self.u32(h.drops);
        let wide = h.wide_interfaces.unwrap_or(WideInterfaces {
            input_format: h.input >> 30,
            input_value: h.input & 0x3FFF_FFFF,
            output_format: h.output >> 30,
            output_value: h.output & 0x3FFF_FFFF,
        });
        self.u32(wide.input_format);
        self.u32(wide.input_value);
        self.u32(wide.output_format);
        self.u32(wide.output_value);
        self.records(records);
        self.close_sample(start);
        self
    }

    /// Add a counter sample (format 2) with one generic interface record; the data source
    /// is the interface (`source_type` 0, index `c.if_index`).
    pub fn counter_sample(&mut self, sequence: u32, c: &GenericInterface) -> &mut Self {
        let start = self.open_sample(format::COUNTER_SAMPLE);
        self.u32(sequence);
        self.u32(c.if_index & 0x00FF_FFFF);
        self.u32(1);
        self.generic_interface(c);
        self.close_sample(start);
        self
    }

    /// Add a counter sample (format 2) of data source `source_id` (type in the top byte)
    /// with any records ([`RecordSpec::GenericInterface`], [`RecordSpec::EthernetCounters`],
    /// or [`RecordSpec::Opaque`] for a record the encoder has no spec for).
    pub fn counter_sample_records(
        &mut self,
        sequence: u32,
        source_id: u32,
        records: &[RecordSpec<'_>],
    ) -> &mut Self {
        let start = self.open_sample(format::COUNTER_SAMPLE);
        self.u32(sequence);
        self.u32(source_id);
        self.records(records);
        self.close_sample(start);
        self
    }

    /// Add an expanded counter sample (format 4) with one generic interface record.
    pub fn expanded_counter_sample(&mut self, sequence: u32, c: &GenericInterface) -> &mut Self {
        let start = self.open_sample(format::EXPANDED_COUNTER_SAMPLE);
        self.u32(sequence);
        self.u32(0);
        self.u32(c.if_index);
        self.u32(1);
        self.generic_interface(c);
        self.close_sample(start);
        self
    }

    /// Add a sample of any format with an opaque body (padded to 4 bytes), e.g. a vendor
    /// sample a decoder must skip.
    pub fn opaque_sample(&mut self, tag: u32, body: &[u8]) -> &mut Self {
        let start = self.open_sample(tag);
        self.opaque_bytes(body);
        self.close_sample(start);
        self
    }

    /// Number of samples added so far.
    pub fn sample_count(&self) -> u32 {
        self.samples
    }

    /// Current datagram length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Never true: a datagram always has its header.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The datagram so far (always a complete, valid datagram).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished datagram.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// An sFlow `address`: its type (the datagram header's agent address types, 1 IPv4 and
    /// 2 IPv6), then its bytes.
    pub(super) fn address(&mut self, a: IpAddr) {
        use crate::sflow::layout::datagram as dg;
        match a {
            IpAddr::V4(a) => {
                self.u32(dg::IPV4);
                self.buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u32(dg::IPV6);
                self.buf.extend_from_slice(&a.octets());
            }
        }
    }

    /// Bytes followed by zero padding to a 4-byte boundary (XDR), without a length word.
    pub(super) fn opaque_bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let pad = (4 - data.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    /// Write a tag and a placeholder length; returns where the length word is.
    pub(super) fn open_struct(&mut self, tag: u32) -> usize {
        self.u32(tag);
        let at = self.buf.len();
        self.u32(0);
        at
    }

    /// Patch the length word at `at` with the bytes written after it.
    pub(super) fn close_struct(&mut self, at: usize) {
        // Datagrams are far below 4 GiB; saturate rather than wrap if a caller goes wild.
        let len = u32::try_from(self.buf.len() - at - 4).unwrap_or(u32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn open_sample(&mut self, tag: u32) -> usize {
        self.open_struct(tag)
    }

    fn close_sample(&mut self, at: usize) {
        self.close_struct(at);
        self.samples += 1;
        let c = self.count_at;
        self.buf[c..c + 4].copy_from_slice(&self.samples.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::header_protocol;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn empty_datagram_header_bytes() {
        let d = DatagramBuilder::new(v4(10, 0, 0, 1), 7, 42, 1000).finish();
        #[rustfmt::skip]
        let expect = [
            0, 0, 0, 5,          // version
            0, 0, 0, 1,          // IPv4
            10, 0, 0, 1,         // agent
            0, 0, 0, 7,          // sub-agent
            0, 0, 0, 42,         // sequence
            0, 0, 0x03, 0xE8,    // uptime 1000 ms
            0, 0, 0, 0,          // samples
        ];
        assert_eq!(d, expect);
    }

    #[test]
    fn ipv6_agent_header() {
        let agent = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let d = DatagramBuilder::new(agent, 0, 1, 2).finish();
        assert_eq!(d.len(), 4 + 4 + 16 + 16);
        assert_eq!(&d[4..8], &[0, 0, 0, 2]);
        assert_eq!(&d[8..10], &[0x20, 0x01]);
        assert_eq!(&d[23..24], &[1]);
    }

    #[test]
    fn flow_sample_bytes() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        let h = FlowSampleHeader {
            sequence: 9,
            source_type: 0,
            source_index: 3,
            sampling_rate: 1000,
            sample_pool: 5000,
            drops: 2,
            input: 3,
            output: 0x3FFF_FFFF,
            wide_interfaces: None,
        };
        b.flow_sample(
            &h,
            &[
                RecordSpec::SampledHeader {
                    protocol: header_protocol::ETHERNET,
                    frame_length: 1500,
                    stripped: 4,
                    header: &[0xAA, 0xBB, 0xCC, 0xDD, 0xEE],
                },
                RecordSpec::ExtendedSwitch {
                    src_vlan: 10,
                    src_priority: 0,
                    dst_vlan: 20,
                    dst_priority: 1,
                },
            ],
        );
        assert_eq!(b.sample_count(), 1);
        let d = b.finish();
        #[rustfmt::skip]
        let sample = [
            0, 0, 0, 1,            // tag: flow sample
            0, 0, 0, 88,           // length
            0, 0, 0, 9,            // sequence
            0, 0, 0, 3,            // source id
            0, 0, 0x03, 0xE8,      // sampling rate
            0, 0, 0x13, 0x88,      // pool
            0, 0, 0, 2,            // drops
            0, 0, 0, 3,            // input
            0x3F, 0xFF, 0xFF, 0xFF,// output
            0, 0, 0, 2,            // records
            0, 0, 0, 1,            // sampled header
            0, 0, 0, 24,
            0, 0, 0, 1,            // Ethernet
            0, 0, 0x05, 0xDC,      // frame length
            0, 0, 0, 4,            // stripped
            0, 0, 0, 5,            // header length
            0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0, 0, 0,
            0, 0, 0x03, 0xE9,      // extended switch
            0, 0, 0, 16,
            0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1,
        ];
        assert_eq!(&d[24..28], &[0, 0, 0, 1], "sample count");
        assert_eq!(&d[28..], &sample);
    }

    #[test]
    fn expanded_flow_sample_splits_words() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        let h = FlowSampleHeader {
            sequence: 1,
            source_type: 0,
            source_index: 0x0100_0000,
            sampling_rate: 1,
            sample_pool: 1,
            drops: 0,
            input: 0x8000_0007,
            output: 0x4000_0001,
            wide_interfaces: None,
        };
        b.expanded_flow_sample(&h, &[]);
        let d = b.finish();
        #[rustfmt::skip]
        let sample = [
            0, 0, 0, 3, 0, 0, 0, 44,
            0, 0, 0, 1,   // sequence
            0, 0, 0, 0,   // source type
            1, 0, 0, 0,   // source index (full word)
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
            0, 0, 0, 2, 0, 0, 0, 7,   // input: format 2, value 7
            0, 0, 0, 1, 0, 0, 0, 1,   // output: format 1, value 1
            0, 0, 0, 0,               // no records
        ];
        assert_eq!(&d[28..], &sample);

        // Full-width words replace the split compact ones.
        let wide = FlowSampleHeader {
            wide_interfaces: Some(WideInterfaces {
                input_format: 0x1_0000,
                input_value: 0xFFFF_FFF0,
                output_format: 0,
                output_value: 0x4000_0005,
            }),
            ..h
        };
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.expanded_flow_sample(&wide, &[]);
        let d = b.finish();
        #[rustfmt::skip]
        let interfaces = [
            0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0,   // input: format 0x10000, value 0xFFFFFFF0
            0, 0, 0, 0, 0x40, 0, 0, 5,            // output: format 0, value 0x40000005
        ];
        assert_eq!(&d[28 + 32..28 + 48], &interfaces);
    }

    #[test]
    fn counter_samples_have_88_byte_generic_record() {
        let c = GenericInterface {
            if_index: 5,
            if_speed: 100_000_000_000,
            in_octets: 1 << 40,
            promiscuous: 1,
            ..Default::default()
        };
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.counter_sample(3, &c).expanded_counter_sample(4, &c);
        assert_eq!(b.sample_count(), 2);
        let d = b.finish();
        // Compact: tag, len, seq, source, nrec, rec tag, rec len, 88.
        assert_eq!(&d[28..36], &[0, 0, 0, 2, 0, 0, 0, 108]);
        assert_eq!(&d[40..44], &[0, 0, 0, 5]);
        assert_eq!(&d[48..56], &[0, 0, 0, 1, 0, 0, 0, 88]);
        assert_eq!(&d[56..60], &[0, 0, 0, 5], "ifIndex");
        assert_eq!(&d[140..144], &[0, 0, 0, 1], "promiscuous is the last word");
        let second = 28 + 8 + 108;
        assert_eq!(&d[second..second + 8], &[0, 0, 0, 4, 0, 0, 0, 112]);
        assert_eq!(d.len(), second + 8 + 112);
    }

    #[test]
    fn opaque_records_and_samples_are_padded() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.opaque_sample((9 << 12) | 7, &[1, 2, 3]);
        let d = b.as_bytes();
        assert_eq!(&d[28..], &[0, 0, 0x90, 7, 0, 0, 0, 4, 1, 2, 3, 0]);
    }

    #[test]
    fn counter_sample_with_any_records() {
        let mut b = DatagramBuilder::new(v4(192, 0, 2, 1), 0, 1, 0);
        b.counter_sample_records(
            5,
            0x0100_0002,
            &[RecordSpec::Opaque {
                tag: 2,
                data: &[0xAB; 4],
            }],
        );
        let d = b.finish();
        #[rustfmt::skip]
        let sample = [
            0, 0, 0, 2, 0, 0, 0, 24,  // counter sample, 24 bytes
            0, 0, 0, 5,               // sequence
            1, 0, 0, 2,               // source id: type 1, index 2
            0, 0, 0, 1,               // one record
            0, 0, 0, 2, 0, 0, 0, 4, 0xAB, 0xAB, 0xAB, 0xAB,
        ];
        assert_eq!(&d[28..], &sample);
        assert_eq!(&d[24..28], &[0, 0, 0, 1], "sample count");
    }

    #[test]
    fn reset_reuses_buffer() {
        let mut b = DatagramBuilder::new(v4(10, 0, 0, 1), 0, 1, 0);
        b.opaque_sample(1, &[0; 100]);
        b.reset(v4(10, 0, 0, 2), 1, 2, 3);
        assert_eq!(b.sample_count(), 0);
        assert_eq!(b.len(), 28);
        assert_eq!(&b.as_bytes()[8..12], &[10, 0, 0, 2]);
    }
}
