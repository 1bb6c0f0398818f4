//! The sample pieces both walks share: the fixed part of a flow sample in either form and
//! the meta built from it, the fallback keys of samples without a sampled header, counter
//! and discard samples (walked once, whatever the walk).

use std::net::IpAddr;

use crate::packet::fast;
use crate::packet::{decode_header_keys, InnerKeys, PacketKeys};
use crate::sflow::datagram::Tag;
use crate::sflow::error::{DecodeError, Structure};
use crate::sflow::flow_record::{self, FlowRecord};
use crate::sflow::layout::{self, interface, sampled_header, source_id};
use crate::sflow::sample::{DiscardSample, Interface, SampleKind};
use crate::sflow::{counter, Element};

use super::elements::{next_element, sampled_header, truncated, word, Header};
use super::{CounterSampleMeta, DiscardSampleMeta, FlowSampleMeta, Visitor};

/// The fixed part of a flow sample in either form, read once, plus its record list.
pub(super) struct FlowFixed<'a> {
    pub expanded: bool,
    pub sequence: u32,
    pub source_id_type: u32,
    pub source_id_index: u32,
    pub sampling_rate: u32,
    pub sample_pool: u32,
    pub drops: u32,
    pub input: Interface,
    pub output: Interface,
    /// The interface values the record carries, all 32 bits.
    pub input_value: u32,
    pub output_value: u32,
    /// The interface formats as sent (what `Interface::format` gives back), read without
    /// decoding the `Interface`s, which only the meta needs.
    pub input_format: u32,
    pub output_format: u32,
    pub record_count: u32,
    pub records: &'a [u8],
}

/// Flow sample, format 1 (the layout [`crate::sflow::FlowSample`] reads).
#[inline(always)]
pub(super) fn compact_flow(data: &[u8]) -> Result<FlowFixed<'_>, DecodeError> {
    use layout::flow_sample::LEN;
    let Some((f, records)) = data.split_first_chunk::<LEN>() else {
        return Err(truncated(Structure::FlowSample, LEN, data.len()));
    };
    Ok(compact_fixed(f, records))
}

/// The fixed part of a compact flow sample, from its [`layout::flow_sample::LEN`] bytes.
#[inline(always)]
pub(super) fn compact_fixed<'a>(
    f: &[u8; layout::flow_sample::LEN],
    records: &'a [u8],
) -> FlowFixed<'a> {
    use layout::flow_sample::*;
    let source = word::<SOURCE_ID, LEN>(f);
    let (input_word, output_word) = (word::<INPUT, LEN>(f), word::<OUTPUT, LEN>(f));
    FlowFixed {
        expanded: false,
        sequence: word::<SEQUENCE, LEN>(f),
        source_id_type: source >> source_id::TYPE_SHIFT,
        source_id_index: source & source_id::INDEX_MASK,
        sampling_rate: word::<SAMPLING_RATE, LEN>(f),
        sample_pool: word::<SAMPLE_POOL, LEN>(f),
        drops: word::<DROPS, LEN>(f),
        input: Interface::from_word(input_word),
        output: Interface::from_word(output_word),
        input_value: input_word & interface::VALUE_MASK,
        output_value: output_word & interface::VALUE_MASK,
        input_format: input_word >> interface::FORMAT_SHIFT,
        output_format: output_word >> interface::FORMAT_SHIFT,
        record_count: word::<RECORD_COUNT, LEN>(f),
        records,
    }
}

/// Expanded flow sample, format 3 (the layout [`crate::sflow::FlowSample`] reads).
#[inline(always)]
pub(super) fn expanded_flow(data: &[u8]) -> Result<FlowFixed<'_>, DecodeError> {
    use layout::expanded_flow_sample::LEN;
    let Some((f, records)) = data.split_first_chunk::<LEN>() else {
        return Err(truncated(Structure::FlowSample, LEN, data.len()));
    };
    Ok(expanded_fixed(f, records))
}

/// The fixed part of an expanded flow sample, from its [`layout::expanded_flow_sample::LEN`]
/// bytes.
#[inline(always)]
pub(super) fn expanded_fixed<'a>(
    f: &[u8; layout::expanded_flow_sample::LEN],
    records: &'a [u8],
) -> FlowFixed<'a> {
    use layout::expanded_flow_sample::*;
    let (input_format, output_format) =
        (word::<INPUT_FORMAT, LEN>(f), word::<OUTPUT_FORMAT, LEN>(f));
    let (input_value, output_value) = (word::<INPUT_VALUE, LEN>(f), word::<OUTPUT_VALUE, LEN>(f));
    FlowFixed {
        expanded: true,
        sequence: word::<SEQUENCE, LEN>(f),
        source_id_type: word::<SOURCE_TYPE, LEN>(f),
        source_id_index: word::<SOURCE_INDEX, LEN>(f),
        sampling_rate: word::<SAMPLING_RATE, LEN>(f),
        sample_pool: word::<SAMPLE_POOL, LEN>(f),
        drops: word::<DROPS, LEN>(f),
        input: Interface::from_parts(input_format, input_value),
        output: Interface::from_parts(output_format, output_value),
        input_value,
        output_value,
        input_format,
        output_format,
        record_count: word::<RECORD_COUNT, LEN>(f),
        records,
    }
}

/// What the visitor hears beside the record, for sample `index`.
#[inline(always)]
pub(super) fn flow_meta(
    index: u32,
    fs: &FlowFixed<'_>,
    sampled: Option<Header<'_>>,
) -> FlowSampleMeta {
    FlowSampleMeta {
        index,
        expanded: fs.expanded,
        sequence: fs.sequence,
        source_id_type: fs.source_id_type,
        source_id_index: fs.source_id_index,
        sampling_rate: fs.sampling_rate,
        sample_pool: fs.sample_pool,
        drops: fs.drops,
        input: fs.input,
        output: fs.output,
        header_protocol: sampled.map(|h| h.protocol),
    }
}

/// The sampled Ethernet / IPv4 / IPv6 records of a sample (already checked to parse), kept
/// in case the sample has no sampled header. Only the rare records other than the sampled
/// header ever touch it, so it stays out of the per-sample path's registers.
#[derive(Default)]
pub(super) struct Others<'a> {
    ethernet: Option<&'a [u8]>,
    ip: Option<(Tag, &'a [u8])>,
}

impl Others<'_> {
    pub(super) fn frame_length(&self) -> u32 {
        // The sampled IPv4/IPv6 and Ethernet records start with their packet length.
        match (self.ip, self.ethernet) {
            (Some((_, ip)), _) => crate::sflow::xdr::u32_at(ip, 0),
            (None, Some(e)) => crate::sflow::xdr::u32_at(e, 0),
            (None, None) => 0,
        }
    }

    /// Write the keys the records carry into `keys` (which start as `PacketKeys::default()`).
    pub(super) fn fill_keys(&self, keys: &mut PacketKeys) {
        if let Some(data) = self.ethernet {
            if let Ok(FlowRecord::SampledEthernet(e)) =
                FlowRecord::parse(Tag::new(0, flow_record::format::SAMPLED_ETHERNET), data)
            {
                keys.set_mac_source(Some(e.src_mac));
                keys.set_mac_destination(Some(e.dst_mac));
                keys.set_ethernet_protocol(u16::try_from(e.eth_type).ok());
            }
        }
        if let Some((tag, data)) = self.ip {
            if let Ok(FlowRecord::SampledIpv4(ip) | FlowRecord::SampledIpv6(ip)) =
                FlowRecord::parse(tag, data)
            {
                ip_keys(keys, &ip);
            }
        }
    }
}

/// Keys of a sampled header, through whichever decoder fits: what discard samples carry
/// (the outermost header's; a discard reports no tunnel levels).
pub(super) fn header_keys(h: Header<'_>) -> PacketKeys {
    let mut keys = match h.protocol {
        sampled_header::ETHERNET => fast::ethernet_ipv4(h.bytes),
        _ => None,
    }
    .unwrap_or_else(|| {
        let mut keys = PacketKeys::default();
        decode_header_keys(h.protocol, h.bytes, &mut keys, &mut InnerKeys::default());
        keys
    });
    keys.set_depth(0);
    keys
}

/// Walk a sample's `declared` flow records in `list` once: return the first sampled
/// header, keep the sampled Ethernet/IP records in `others` while there is none, and report
/// every record type this decoder does not know.
#[inline(always)]
pub(super) fn scan_records<'a, V: Visitor>(
    mut list: &'a [u8],
    declared: u32,
    kind: SampleKind,
    visitor: &mut V,
    others: &mut Others<'a>,
) -> Result<Option<Header<'a>>, DecodeError> {
    let mut sampled = None;
    for index in 0..declared {
        let (tag, data) = next_element(&mut list, Structure::Record, declared, index)?;
        // Enterprise 0, format 1: the sampled header, nearly always the first record.
        if tag.0 == flow_record::format::SAMPLED_HEADER {
            if sampled.is_none() {
                sampled = Some(sampled_header(data)?);
            }
            continue;
        }
        if !flow_record::is_known(tag) {
            unknown_record(visitor, kind, tag);
            continue;
        }
        if sampled.is_none() {
            other_record(tag, data, others)?;
        }
    }
    Ok(sampled)
}

#[inline(never)]
pub(super) fn unknown_record<V: Visitor>(visitor: &mut V, kind: SampleKind, tag: Tag) {
    visitor.unknown_record(kind, tag);
}

/// Sampled Ethernet / IPv4 / IPv6 records, checked to parse and kept for the keys when the
/// sample has no sampled header; other known records are skipped.
#[inline(never)]
pub(super) fn other_record<'a>(
    tag: Tag,
    data: &'a [u8],
    found: &mut Others<'a>,
) -> Result<(), DecodeError> {
    match tag.format() {
        flow_record::format::SAMPLED_ETHERNET => {
            FlowRecord::parse(tag, data)?;
            found.ethernet = Some(data);
        }
        flow_record::format::SAMPLED_IPV4 | flow_record::format::SAMPLED_IPV6 => {
            FlowRecord::parse(tag, data)?;
            found.ip = Some((tag, data));
        }
        _ => {}
    }
    Ok(())
}

/// Keys a sampled IPv4/IPv6 record carries (it has no MACs, TTL or ICMP fields).
pub(super) fn ip_keys(keys: &mut PacketKeys, ip: &flow_record::SampledIp) {
    keys.set_ip_source(Some(ip.src));
    keys.set_ip_destination(Some(ip.dst));
    keys.set_ethernet_protocol(Some(match ip.src {
        IpAddr::V4(_) => 0x0800,
        IpAddr::V6(_) => 0x86DD,
    }));
    keys.set_ip_protocol(u8::try_from(ip.protocol).ok());
    keys.set_ip_tos(u8::try_from(ip.tos).ok());
    let (sport, dport) = (
        u16::try_from(ip.src_port).ok(),
        u16::try_from(ip.dst_port).ok(),
    );
    match ip.protocol {
        6 => {
            keys.set_tcp_source_port(sport);
            keys.set_tcp_destination_port(dport);
            keys.set_tcp_flags(u16::try_from(ip.tcp_flags).ok());
        }
        17 => {
            keys.set_udp_source_port(sport);
            keys.set_udp_destination_port(dport);
        }
        _ => {}
    }
}

/// A counter sample of either form: its fixed part read through one array, its records'
/// envelopes walked as the flow records' are (the record bodies are not decoded here).
#[inline(never)]
pub(super) fn counter_sample<V: Visitor>(
    index: u32,
    data: &[u8],
    expanded: bool,
    visitor: &mut V,
) -> Result<CounterSampleMeta, DecodeError> {
    let (meta, mut list) = if expanded {
        use layout::expanded_counter_sample::*;
        let Some((f, list)) = data.split_first_chunk::<LEN>() else {
            return Err(truncated(Structure::CounterSample, LEN, data.len()));
        };
        let meta = CounterSampleMeta {
            index,
            expanded,
            sequence: word::<SEQUENCE, LEN>(f),
            source_id_type: word::<SOURCE_TYPE, LEN>(f),
            source_id_index: word::<SOURCE_INDEX, LEN>(f),
            record_count: word::<RECORD_COUNT, LEN>(f),
        };
        (meta, list)
    } else {
        use layout::counter_sample::*;
        let Some((f, list)) = data.split_first_chunk::<LEN>() else {
            return Err(truncated(Structure::CounterSample, LEN, data.len()));
        };
        let source = word::<SOURCE_ID, LEN>(f);
        let meta = CounterSampleMeta {
            index,
            expanded,
            sequence: word::<SEQUENCE, LEN>(f),
            source_id_type: source >> source_id::TYPE_SHIFT,
            source_id_index: source & source_id::INDEX_MASK,
            record_count: word::<RECORD_COUNT, LEN>(f),
        };
        (meta, list)
    };
    for i in 0..meta.record_count {
        let (tag, body) = next_element(&mut list, Structure::Record, meta.record_count, i)?;
        visitor.counter_record(tag, body);
        if !counter::is_known(tag) {
            unknown_record(visitor, SampleKind::Counters, tag);
        }
    }
    Ok(meta)
}

#[inline(never)]
pub(super) fn discard_sample<V: Visitor>(
    sample: &Element<'_>,
    visitor: &mut V,
) -> Result<DiscardSampleMeta, DecodeError> {
    let ds = DiscardSample::new_checked(sample.data)?;
    let sampled = scan_records(
        sample
            .data
            .get(layout::discard_sample::LEN..)
            .unwrap_or(&[]),
        ds.record_count(),
        SampleKind::Discard,
        visitor,
        &mut Others::default(),
    )?;
    Ok(DiscardSampleMeta {
        index: sample.index,
        sequence: ds.sequence_number(),
        source_id_type: ds.source_id_type(),
        source_id_index: ds.source_id_index(),
        drops: ds.drops(),
        input: ds.input(),
        output: ds.output(),
        reason: ds.reason(),
        keys: sampled.map(header_keys),
    })
}
