//! The receive path's single entry point: walk one datagram, turn each flow sample into a
//! [`SampleRecord`], and tell a [`Visitor`] about everything else.
//!
//! This is the per-datagram hot path of the receive threads, so it allocates nothing, formats
//! nothing and decodes only what the flow engine and loss accounting need: the datagram
//! header, the fixed part of each sample, and the sampled header (through
//! [`crate::packet::decode_header`]). When a flow sample has no sampled-header record, its
//! sampled IPv4/IPv6/Ethernet records (formats 3, 4, 2) fill the keys they carry instead.
//! Everything else in a sample is skipped by its length; unknown sample and record types are
//! reported to the visitor so callers can count them per (enterprise, format).

use std::net::{IpAddr, Ipv4Addr};

use crate::packet::fast::{self, Ipv4Frame};
use crate::packet::{decode_header_keys, InnerKeys, PacketKeys};
use crate::record::SampleRecord;

use super::datagram::{Datagram, DatagramHeader, Tag};
use super::error::{DecodeError, SampleError, Structure};
use super::flow::{self, FlowRecord};
#[cfg(doc)]
use super::sample::FlowSample;
use super::sample::{format as sample_format, DiscardSample, Interface, SampleKind};
use super::{counter, Element};

/// The fixed fields of a flow sample that loss accounting and statistics need beyond the
/// [`SampleRecord`] itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSampleMeta {
    /// Position of the sample in the datagram (0-based).
    pub index: u32,
    /// True for the expanded form (sample format 3).
    pub expanded: bool,
    /// The sample's own sequence number (per data source).
    pub sequence: u32,
    pub source_id_type: u32,
    /// The data-source index (as the record's `source_index`).
    pub source_id_index: u32,
    pub sampling_rate: u32,
    /// Total packets that could have been sampled (the sample pool).
    pub sample_pool: u32,
    /// Samples the agent dropped for lack of resources.
    pub drops: u32,
    pub input: Interface,
    pub output: Interface,
    /// The sampled-header record's header protocol, when the sample had one.
    pub header_protocol: Option<u32>,
}

/// The fixed fields of a counter sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterSampleMeta {
    pub index: u32,
    pub expanded: bool,
    pub sequence: u32,
    pub source_id_type: u32,
    pub source_id_index: u32,
    pub record_count: u32,
}

/// The fixed fields of a discarded-packet sample (format 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscardSampleMeta {
    pub index: u32,
    pub sequence: u32,
    pub source_id_type: u32,
    pub source_id_index: u32,
    /// Discards the agent could not report.
    pub drops: u32,
    /// Input and output ifIndex (0 when unknown).
    pub input: u32,
    pub output: u32,
    /// The drop-notification reason code.
    pub reason: u32,
    /// Keys of the discarded packet's sampled header, when the sample carried one.
    pub keys: Option<PacketKeys>,
}

/// What [`decode_datagram`] reports. Every method has a no-op default: implement only what
/// you need. Methods are called in datagram order: `datagram` first, then one call per sample
/// (plus `unknown_record` calls for the sample's records, made before the sample's own call).
pub trait Visitor {
    /// The datagram header, before any sample.
    fn datagram(&mut self, _header: &DatagramHeader) {}
    /// A flow sample (compact or expanded), reduced to the record workers use.
    fn flow_sample(&mut self, _meta: &FlowSampleMeta, _record: &SampleRecord) {}
    /// One record of a counter sample, its body as sent (tag and length checked, nothing
    /// else): every record of the sample, in wire order, before the sample's own call.
    fn counter_record(&mut self, _tag: Tag, _data: &[u8]) {}
    /// A counter sample (compact or expanded).
    fn counter_sample(&mut self, _meta: &CounterSampleMeta) {}
    /// A discarded-packet sample.
    fn discard_sample(&mut self, _meta: &DiscardSampleMeta) {}
    /// A sample type this decoder does not know; it was skipped by its length.
    fn unknown_sample(&mut self, _index: u32, _tag: Tag) {}
    /// A record type this decoder does not know inside a known sample; skipped by its length.
    fn unknown_record(&mut self, _sample: SampleKind, _tag: Tag) {}
    /// A sample that could not be decoded. It is not delivered; the walk goes on with the
    /// next sample unless the error made the rest of the datagram unreadable.
    fn sample_error(&mut self, _error: &SampleError) {}
}

/// Decode one sFlow v5 datagram (the UDP payload) received at `received_ns` (monotonic
/// nanoseconds, copied into every [`SampleRecord`]).
///
/// Returns the datagram header, or an error when the header itself is unusable (too short,
/// not version 5, bad agent address type); then nothing was reported to `visitor`.
/// Errors inside samples go to [`Visitor::sample_error`] and never stop the other samples.
///
/// The walk follows the same rules as [`super::Elements`] (advance by the declared length,
/// padded but never past the list; stop at an envelope or body that does not fit) but is
/// written out here: the flow-sample path runs for every sample the collector receives, and
/// the generic iterator's `Option<Result<..>>` plumbing and per-field bounds checks were two
/// thirds of its cost. A compact flow sample of the usual layout is taken whole by
/// `usual_flow_sample`, in a loop that keeps nothing else in registers; every other sample
/// goes out of line to `any_sample`, which gives the same results for every input.
pub fn decode_datagram<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    decode::<V, true>(bytes, received_ns, visitor)
}

/// [`decode_datagram`] with every sample on the general walk: what the tests compare the
/// usual-layout path against. Not for production use (it is several times slower).
#[doc(hidden)]
pub fn decode_datagram_general<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    decode::<V, false>(bytes, received_ns, visitor)
}

#[inline(always)]
fn decode<V: Visitor, const USUAL: bool>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    // An IPv4 agent's 28-byte header, the usual one, read at fixed offsets of one array
    // and walked here, its fields in registers; anything else through [`Datagram`], out of
    // line.
    match bytes.split_first_chunk::<28>() {
        Some((h, rest)) if word::<0, 28>(h) == 5 && word::<4, 28>(h) == 1 => {
            let header = DatagramHeader {
                agent: IpAddr::V4(Ipv4Addr::from(word::<8, 28>(h))),
                sub_agent: word::<12, 28>(h),
                sequence: word::<16, 28>(h),
                uptime_ms: word::<20, 28>(h),
                sample_count: word::<24, 28>(h),
            };
            walk::<V, USUAL>(&header, rest, received_ns, visitor);
            Ok(header)
        }
        _ => decode_other_header::<V, USUAL>(bytes, received_ns, visitor),
    }
}

/// A datagram whose header is not the usual IPv4 one: read through [`Datagram`].
#[inline(never)]
fn decode_other_header<V: Visitor, const USUAL: bool>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    let datagram = Datagram::new_checked(bytes)?;
    let header = datagram.header();
    let rest = bytes.get(datagram.header_len()..).unwrap_or(&[]);
    walk::<V, USUAL>(&header, rest, received_ns, visitor);
    Ok(header)
}

/// Tell the visitor about the datagram, then walk its samples.
#[inline(always)]
fn walk<V: Visitor, const USUAL: bool>(
    header: &DatagramHeader,
    mut rest: &[u8],
    received_ns: u64,
    visitor: &mut V,
) {
    visitor.datagram(header);
    // One record for all the datagram's usual flow samples: the datagram's fields are
    // written once, and each sample overwrites only its own (the visitor sees it through a
    // shared reference, so what it was shown stays as it was).
    let mut record = SampleRecord::new_compact(header.agent, header.sub_agent, received_ns);
    prefetch_lines(rest);
    let mut index = 0;
    while index < header.sample_count {
        if USUAL {
            if let Some(after) = usual_flow_sample(rest, index, &mut record, visitor) {
                rest = after;
                index += 1;
                continue;
            }
        }
        match any_sample(&record, rest, (index, header.sample_count), visitor) {
            Some(after) => rest = after,
            None => break,
        }
        index += 1;
    }
}

/// One sample by the general walk, and the bytes after it; `None` when its envelope is
/// bad: nothing after it can be located. `datagram` gives the datagram's agent, sub-agent
/// and receive time to the records made here (its other fields are not read: it is the
/// usual path's record, holding whatever sample it had last).
#[inline(never)]
fn any_sample<'a, V: Visitor>(
    datagram: &SampleRecord,
    mut rest: &'a [u8],
    (index, declared): (u32, u32),
    visitor: &mut V,
) -> Option<&'a [u8]> {
    let (tag, data) = match next_element(&mut rest, Structure::Sample, declared, index) {
        Ok(element) => element,
        Err(error) => {
            envelope_failed(visitor, index, error);
            return None;
        }
    };
    // Enterprise 0 sample formats, compared as whole tags (enterprise << 12 | format).
    let result = match tag.0 {
        sample_format::FLOW => general_compact_flow(datagram, index, data, visitor),
        _ => other_sample(datagram, index, tag, data, visitor),
    };
    if let Err(error) = result {
        sample_failed(visitor, index, tag, error);
    }
    Some(rest)
}

/// Every sample but the compact flow sample.
#[inline(always)]
fn other_sample<V: Visitor>(
    datagram: &SampleRecord,
    index: u32,
    tag: Tag,
    data: &[u8],
    visitor: &mut V,
) -> Result<(), DecodeError> {
    match tag.0 {
        sample_format::EXPANDED_FLOW => {
            expanded_flow(data).and_then(|f| flow_sample(datagram, index, data, f, visitor))
        }
        sample_format::COUNTERS | sample_format::EXPANDED_COUNTERS => counter_sample(
            index,
            data,
            tag.0 == sample_format::EXPANDED_COUNTERS,
            visitor,
        )
        .map(|meta| visitor.counter_sample(&meta)),
        sample_format::DISCARDED_PACKET => discard_sample(&Element { index, tag, data }, visitor)
            .map(|meta| visitor.discard_sample(&meta)),
        _ => {
            visitor.unknown_sample(index, tag);
            Ok(())
        }
    }
}

/// The big-endian word at offset `AT` of a fixed-size array. The bound is checked at compile
/// time (the `const` block), so the read has no run-time check and cannot panic.
#[inline(always)]
fn word<const AT: usize, const N: usize>(b: &[u8; N]) -> u32 {
    const { assert!(AT + 4 <= N) };
    u32::from_be_bytes([b[AT], b[AT + 1], b[AT + 2], b[AT + 3]])
}

/// The `M` bytes at offset `AT` of a fixed-size array, as [`word`] checked at compile time.
#[inline(always)]
fn array_at<const AT: usize, const M: usize, const N: usize>(b: &[u8; N]) -> [u8; M] {
    const { assert!(AT + M <= N) };
    let mut out = [0u8; M];
    out.copy_from_slice(&b[AT..AT + M]);
    out
}

/// The `M` bytes at offset `AT` of a fixed-size array, borrowed. Never `None` (the bound is
/// checked at compile time as [`word`]'s is), so the optimiser removes the check.
#[inline(always)]
fn chunk_at<const AT: usize, const M: usize, const N: usize>(b: &[u8; N]) -> Option<&[u8; M]> {
    const { assert!(AT + M <= N) };
    b.get(AT..)?.first_chunk::<M>()
}

/// One step of a (tag, length, body) walk over `rest`: the element's tag and body, with
/// `rest` advanced past the body and its XDR padding (the padding never past the list).
/// `index` of `declared` is the element's position, for the error.
#[inline(always)]
fn next_element<'a>(
    rest: &mut &'a [u8],
    what: Structure,
    declared: u32,
    index: u32,
) -> Result<(Tag, &'a [u8]), DecodeError> {
    let Some((envelope, body)) = rest.split_first_chunk::<8>() else {
        return Err(envelope_error(what, declared, index, rest.len()));
    };
    let tag = Tag(word::<0, 8>(envelope));
    let length = word::<4, 8>(envelope);
    let Some((data, after)) = body.split_at_checked(length as usize) else {
        return Err(length_error(what, length, body.len()));
    };
    // Lengths are nearly always whole words: the padding is skipped out of line.
    *rest = if length & 3 == 0 {
        after
    } else {
        skip_padding(after, length)
    };
    Ok((tag, data))
}

/// `after` past the XDR padding of a body of `length` bytes, the padding never past the list.
#[cold]
#[inline(never)]
fn skip_padding(after: &[u8], length: u32) -> &[u8] {
    let padding = (length as usize).wrapping_neg() & 3;
    after.get(padding..).unwrap_or(&[])
}

#[cold]
#[inline(never)]
fn envelope_error(what: Structure, declared: u32, found: u32, available: usize) -> DecodeError {
    if available == 0 {
        DecodeError::CountOverrun {
            what,
            declared,
            found,
        }
    } else {
        DecodeError::Truncated {
            what,
            needed: 8,
            available,
        }
    }
}

#[cold]
#[inline(never)]
fn length_error(what: Structure, declared: u32, available: usize) -> DecodeError {
    DecodeError::LengthOverrun {
        what,
        declared,
        available,
    }
}

#[cold]
#[inline(never)]
fn truncated(what: Structure, needed: usize, available: usize) -> DecodeError {
    DecodeError::Truncated {
        what,
        needed,
        available,
    }
}

#[cold]
#[inline(never)]
fn envelope_failed<V: Visitor>(visitor: &mut V, index: u32, error: DecodeError) {
    visitor.sample_error(&SampleError {
        index,
        tag: None,
        error,
    });
}

#[cold]
#[inline(never)]
fn sample_failed<V: Visitor>(visitor: &mut V, index: u32, tag: Tag, error: DecodeError) {
    visitor.sample_error(&SampleError {
        index,
        tag: Some(tag),
        error,
    });
}

/// The fixed part of a flow sample in either form, read once, plus its record list.
struct FlowFixed<'a> {
    expanded: bool,
    sequence: u32,
    source_id_type: u32,
    source_id_index: u32,
    sampling_rate: u32,
    sample_pool: u32,
    drops: u32,
    input: Interface,
    output: Interface,
    /// The interface values the record carries, all 32 bits.
    input_value: u32,
    output_value: u32,
    /// The interface formats as sent (what `Interface::format` gives back), read without
    /// decoding the `Interface`s, which only the meta needs.
    input_format: u32,
    output_format: u32,
    record_count: u32,
    records: &'a [u8],
}

/// Flow sample, format 1 (same layout as [`FlowSample`]).
#[inline(always)]
fn compact_flow(data: &[u8]) -> Result<FlowFixed<'_>, DecodeError> {
    let Some((f, records)) = data.split_first_chunk::<32>() else {
        return Err(truncated(Structure::FlowSample, 32, data.len()));
    };
    Ok(compact_fixed(f, records))
}

/// The fixed part of a compact flow sample, from the first 32 bytes of `f`.
#[inline(always)]
fn compact_fixed<'a, const N: usize>(f: &[u8; N], records: &'a [u8]) -> FlowFixed<'a> {
    let source = word::<4, N>(f);
    let (input_word, output_word) = (word::<20, N>(f), word::<24, N>(f));
    FlowFixed {
        expanded: false,
        sequence: word::<0, N>(f),
        source_id_type: source >> 24,
        source_id_index: source & 0x00FF_FFFF,
        sampling_rate: word::<8, N>(f),
        sample_pool: word::<12, N>(f),
        drops: word::<16, N>(f),
        input: Interface::from_word(input_word),
        output: Interface::from_word(output_word),
        input_value: input_word & 0x3FFF_FFFF,
        output_value: output_word & 0x3FFF_FFFF,
        input_format: input_word >> 30,
        output_format: output_word >> 30,
        record_count: word::<28, N>(f),
        records,
    }
}

/// Bytes of a compact flow sample in its usual layout before the sampled header's bytes:
/// the sample's envelope (8), its fixed part (32), the first record's envelope (8) and the
/// sampled header's fixed part (16).
const USUAL_PREFIX: usize = 64;

/// A tag or header protocol of 1 (enterprise 0, format 1) as sent, compared unswapped.
const ONE_AS_SENT: [u8; 4] = 1u32.to_be_bytes();

/// A compact flow sample (format 1) in the usual layout, the most common sample by far: the
/// sample's envelope, fixed part, first record's envelope and sampled header's fixed part
/// read as one 64-byte array with one length check, the sampled header an Ethernet/IPv4
/// frame ([`Ipv4Frame`]), any further records known ones. The sample goes to the visitor
/// and the bytes after it are returned; `None` for anything else, before anything was
/// reported, and the caller takes the general walk, which gives the same results (and the
/// same errors) for every input.
#[inline(always)]
fn usual_flow_sample<'a, V: Visitor>(
    rest: &'a [u8],
    index: u32,
    record: &mut SampleRecord,
    visitor: &mut V,
) -> Option<&'a [u8]> {
    let s = rest.first_chunk::<USUAL_PREFIX>()?;
    // Sample format 1, first record format 1 (sampled header), header protocol 1 (Ethernet).
    if array_at::<0, 4, USUAL_PREFIX>(s) != ONE_AS_SENT
        || array_at::<40, 4, USUAL_PREFIX>(s) != ONE_AS_SENT
        || array_at::<48, 4, USUAL_PREFIX>(s) != ONE_AS_SENT
    {
        return None;
    }
    // In 64 bits, where no sum of these overflows (the ends then fit a `usize` on any
    // target that holds the bytes).
    let length = u64::from(word::<4, USUAL_PREFIX>(s));
    let first_length = u64::from(word::<44, USUAL_PREFIX>(s));
    let header_length = u64::from(word::<60, USUAL_PREFIX>(s));
    // A whole number of words (no padding to skip), the first record within the sample and
    // the header within the record. The sample within the list is checked by `get` below,
    // the first record's padding only when there are records after it.
    if length & 3 != 0 || first_length + 40 > length || header_length + 16 > first_length {
        return None;
    }
    let end = usize::try_from(8 + length).ok()?;
    let after = rest.get(end..)?;
    let record_count = array_at::<36, 4, USUAL_PREFIX>(s);
    if record_count != ONE_AS_SENT {
        if first_length & 3 != 0 {
            return None;
        }
        let list = rest.get(usize::try_from(48 + first_length).ok()?..end)?;
        // Two records, the usual pair with an extended-switch record, without the loop.
        if record_count == TWO_AS_SENT {
            next_record_known(list)?;
        } else {
            further_records_known(list, u32::from_be_bytes(record_count))?;
        }
    }
    let header_end = usize::try_from(USUAL_PREFIX as u64 + header_length).ok()?;
    let frame = Ipv4Frame::parse(rest.get(USUAL_PREFIX..header_end)?)?;
    let fixed = chunk_at::<8, 32, USUAL_PREFIX>(s)?;
    // The fixed part as sent (data source to output) and the frame length: the record
    // splits and swaps them when a worker reads them.
    record.set_compact_words(fixed, array_at::<52, 4, USUAL_PREFIX>(s));
    frame.write_keys(&mut record.keys);
    frame.finish(&mut record.keys, &mut record.inner);
    let sampled = Header {
        protocol: HEADER_PROTOCOL_ETHERNET,
        frame_length: word::<52, USUAL_PREFIX>(s),
        bytes: &[],
    };
    let fs = compact_fixed(fixed, &[]);
    visitor.flow_sample(&flow_meta(index, &fs, Some(sampled)), record);
    Some(after)
}

/// Ask for every cache line of `bytes` (the first [`PREFETCH_MAX`] bytes of them).
///
/// The sample walk is a chain of dependent loads (a sample's length gives the next one's
/// place), so when a datagram is no longer in L1 (a burst of receives, the bench's working
/// set) each link would wait for its own line; asked for up front, the lines arrive in
/// parallel. On a datagram still in L1 each request costs one instruction and nothing else.
#[inline(always)]
fn prefetch_lines(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for at in (0..bytes.len().min(PREFETCH_MAX)).step_by(256) {
        // Four lines a step: the last step may ask for up to three lines past the end.
        for line in [0, 64, 128, 192] {
            // SAFETY: a prefetch is a hint: it reads nothing and never faults, whatever
            // the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    bytes.as_ptr().wrapping_add(at + line).cast(),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Bytes of a datagram [`prefetch_lines`] asks for: an Ethernet MTU's worth. The hardware
/// prefetchers follow the walk through longer (jumbo) datagrams.
const PREFETCH_MAX: usize = 1536;

/// A record count of 2 as sent.
const TWO_AS_SENT: [u8; 4] = 2u32.to_be_bytes();

/// The records after a usual sample's sampled header, `list` holding records 1 to
/// `declared - 1`: `Some` when they are all readable, whole words long and of known types
/// (later sampled headers are not used, the first one wins, and known records carry nothing
/// the record needs once there is a sampled header), so that there is nothing to report.
/// The extended-switch record, nearly always the one there is, is recognised first.
#[inline(always)]
fn further_records_known(mut list: &[u8], declared: u32) -> Option<()> {
    if declared == 0 {
        return None;
    }
    for _ in 1..declared {
        list = next_record_known(list)?;
    }
    Some(())
}

/// One step of [`further_records_known`]: the bytes after the first record of `list`, when
/// it is readable, whole words long and of a known type.
#[inline(always)]
fn next_record_known(list: &[u8]) -> Option<&[u8]> {
    let (envelope, body) = list.split_first_chunk::<8>()?;
    let length = word::<4, 8>(envelope) as usize;
    if array_at::<0, 4, 8>(envelope) != EXTENDED_SWITCH_AS_SENT {
        let tag = Tag(word::<0, 8>(envelope));
        if tag.0 != flow::format::SAMPLED_HEADER && !flow::is_known(tag) {
            return None;
        }
    }
    if length & 3 != 0 {
        return None;
    }
    body.get(length..)
}

/// The extended-switch record's tag as sent.
const EXTENDED_SWITCH_AS_SENT: [u8; 4] = flow::format::EXTENDED_SWITCH.to_be_bytes();

/// A compact flow sample of another layout: the general walk.
#[inline(never)]
fn general_compact_flow<V: Visitor>(
    datagram: &SampleRecord,
    index: u32,
    data: &[u8],
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let fs = compact_flow(data)?;
    flow_sample(datagram, index, data, fs, visitor)
}

/// Expanded flow sample, format 3 (same layout as [`FlowSample`]).
#[inline(always)]
fn expanded_flow(data: &[u8]) -> Result<FlowFixed<'_>, DecodeError> {
    let Some((f, records)) = data.split_first_chunk::<44>() else {
        return Err(truncated(Structure::FlowSample, 44, data.len()));
    };
    let (input_value, output_value) = (word::<28, 44>(f), word::<36, 44>(f));
    let input = Interface::from_parts(word::<24, 44>(f), input_value);
    let output = Interface::from_parts(word::<32, 44>(f), output_value);
    Ok(FlowFixed {
        expanded: true,
        sequence: word::<0, 44>(f),
        source_id_type: word::<4, 44>(f),
        source_id_index: word::<8, 44>(f),
        sampling_rate: word::<12, 44>(f),
        sample_pool: word::<16, 44>(f),
        drops: word::<20, 44>(f),
        input,
        output,
        input_value,
        output_value,
        input_format: word::<24, 44>(f),
        output_format: word::<32, 44>(f),
        record_count: word::<40, 44>(f),
        records,
    })
}

#[inline(always)]
fn flow_sample<V: Visitor>(
    datagram: &SampleRecord,
    index: u32,
    data: &[u8],
    fs: FlowFixed<'_>,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let mut others = Others::default();
    let sampled = scan_records(
        fs.records,
        fs.record_count,
        SampleKind::Flow,
        visitor,
        &mut others,
    )?;
    // The common case in straight-line code, the record built in place from the keys
    // (one value, no default-then-overwrite): this runs for every flow sample.
    if let Some(h) = sampled {
        if h.protocol == HEADER_PROTOCOL_ETHERNET {
            if let Some(frame) = Ipv4Frame::parse(h.bytes) {
                let mut record = sample_record(datagram, &fs, h.frame_length);
                frame.write_keys(&mut record.keys);
                frame.finish(&mut record.keys, &mut record.inner);
                visitor.flow_sample(&flow_meta(index, &fs, sampled), &record);
                return Ok(());
            }
        }
    }
    // Only the sample's bytes go out of line, not the fixed part already read: handing over
    // `fs` would make every sample compute all of its fields (interfaces included) first.
    general_flow_sample(
        datagram,
        (index, data, fs.expanded),
        sampled,
        &others,
        visitor,
    );
    Ok(())
}

#[inline(always)]
fn flow_meta(index: u32, fs: &FlowFixed<'_>, sampled: Option<Header<'_>>) -> FlowSampleMeta {
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

/// sFlow `header_protocol` 1, ETHERNET-ISO88023.
const HEADER_PROTOCOL_ETHERNET: u32 = 1;

/// The record a flow sample becomes, its keys empty.
#[inline(always)]
fn sample_record(datagram: &SampleRecord, fs: &FlowFixed<'_>, frame_length: u32) -> SampleRecord {
    let mut record = SampleRecord::new(datagram.agent, datagram.sub_agent, datagram.received_ns);
    fill_sample(&mut record, fs, frame_length);
    record
}

/// The general path's one place to fill a record's per-sample fields (all but the
/// datagram's and the keys), decoded; the fast path stores a compact sample's words as sent
/// instead ([`SampleRecord::set_compact_words`]), and both read back the same through the
/// accessors.
#[inline(always)]
fn fill_sample(record: &mut SampleRecord, fs: &FlowFixed<'_>, frame_length: u32) {
    record.sequence = fs.sequence;
    record.set_source(fs.source_id_type, fs.source_id_index);
    record.set_input(fs.input_format, fs.input_value);
    record.set_output(fs.output_format, fs.output_value);
    record.set_sampling_rate(fs.sampling_rate);
    record.set_frame_length(frame_length);
}

/// Every other flow sample: a header of another shape (the general layer walk), or no
/// sampled header at all (keys from the sampled Ethernet/IPv4/IPv6 records).
/// The second argument is the sample's (index, body, expanded form).
#[inline(never)]
fn general_flow_sample<V: Visitor>(
    datagram: &SampleRecord,
    (index, data, expanded): (u32, &[u8], bool),
    sampled: Option<Header<'_>>,
    others: &Others<'_>,
    visitor: &mut V,
) {
    // Read again, as the caller already did successfully.
    let fixed = if expanded {
        expanded_flow(data)
    } else {
        compact_flow(data)
    };
    let Ok(fs) = fixed else {
        return;
    };
    let fs = &fs;
    let frame_length = match sampled {
        Some(h) => h.frame_length,
        None => others.frame_length(),
    };
    let mut record = sample_record(datagram, fs, frame_length);
    match sampled {
        Some(h) => {
            decode_header_keys(h.protocol, h.bytes, &mut record.keys, &mut record.inner);
        }
        None => others.fill_keys(&mut record.keys),
    }
    visitor.flow_sample(&flow_meta(index, fs, sampled), &record);
}

/// A sampled-header record (flow format 1), as [`flow::SampledHeader`] checks it.
#[derive(Clone, Copy)]
struct Header<'a> {
    protocol: u32,
    frame_length: u32,
    bytes: &'a [u8],
}

#[inline(always)]
fn sampled_header(data: &[u8]) -> Result<Header<'_>, DecodeError> {
    let Some((f, rest)) = data.split_first_chunk::<16>() else {
        return Err(truncated(Structure::Record, 16, data.len()));
    };
    let length = word::<12, 16>(f);
    let Some(bytes) = rest.get(..length as usize) else {
        return Err(length_error(Structure::Record, length, rest.len()));
    };
    Ok(Header {
        protocol: word::<0, 16>(f),
        frame_length: word::<4, 16>(f),
        bytes,
    })
}

/// The sampled Ethernet / IPv4 / IPv6 records of a sample (already checked to parse), kept
/// in case the sample has no sampled header. Only the rare records other than the sampled
/// header ever touch it, so it stays out of the per-sample path's registers.
#[derive(Default)]
struct Others<'a> {
    ethernet: Option<&'a [u8]>,
    ip: Option<(Tag, &'a [u8])>,
}

impl Others<'_> {
    fn frame_length(&self) -> u32 {
        // The sampled IPv4/IPv6 and Ethernet records start with their packet length.
        match (self.ip, self.ethernet) {
            (Some((_, ip)), _) => super::xdr::u32_at(ip, 0),
            (None, Some(e)) => super::xdr::u32_at(e, 0),
            (None, None) => 0,
        }
    }

    /// Write the keys the records carry into `keys` (which start as `PacketKeys::default()`).
    fn fill_keys(&self, keys: &mut PacketKeys) {
        if let Some(data) = self.ethernet {
            if let Ok(FlowRecord::SampledEthernet(e)) =
                FlowRecord::parse(Tag::new(0, flow::format::SAMPLED_ETHERNET), data)
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
fn header_keys(h: Header<'_>) -> PacketKeys {
    let mut keys = match h.protocol {
        HEADER_PROTOCOL_ETHERNET => fast::ethernet_ipv4(h.bytes),
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
fn scan_records<'a, V: Visitor>(
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
        if tag.0 == flow::format::SAMPLED_HEADER {
            if sampled.is_none() {
                sampled = Some(sampled_header(data)?);
            }
            continue;
        }
        if !flow::is_known(tag) {
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
fn unknown_record<V: Visitor>(visitor: &mut V, kind: SampleKind, tag: Tag) {
    visitor.unknown_record(kind, tag);
}

/// Sampled Ethernet / IPv4 / IPv6 records, checked to parse and kept for the keys when the
/// sample has no sampled header; other known records are skipped.
#[inline(never)]
fn other_record<'a>(tag: Tag, data: &'a [u8], found: &mut Others<'a>) -> Result<(), DecodeError> {
    match tag.format() {
        flow::format::SAMPLED_ETHERNET => {
            FlowRecord::parse(tag, data)?;
            found.ethernet = Some(data);
        }
        flow::format::SAMPLED_IPV4 | flow::format::SAMPLED_IPV6 => {
            FlowRecord::parse(tag, data)?;
            found.ip = Some((tag, data));
        }
        _ => {}
    }
    Ok(())
}

/// Keys a sampled IPv4/IPv6 record carries (it has no MACs, TTL or ICMP fields).
fn ip_keys(keys: &mut PacketKeys, ip: &flow::SampledIp) {
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
fn counter_sample<V: Visitor>(
    index: u32,
    data: &[u8],
    expanded: bool,
    visitor: &mut V,
) -> Result<CounterSampleMeta, DecodeError> {
    let (meta, mut list) = if expanded {
        let Some((f, list)) = data.split_first_chunk::<16>() else {
            return Err(truncated(Structure::CounterSample, 16, data.len()));
        };
        let meta = CounterSampleMeta {
            index,
            expanded,
            sequence: word::<0, 16>(f),
            source_id_type: word::<4, 16>(f),
            source_id_index: word::<8, 16>(f),
            record_count: word::<12, 16>(f),
        };
        (meta, list)
    } else {
        let Some((f, list)) = data.split_first_chunk::<12>() else {
            return Err(truncated(Structure::CounterSample, 12, data.len()));
        };
        let source = word::<4, 12>(f);
        let meta = CounterSampleMeta {
            index,
            expanded,
            sequence: word::<0, 12>(f),
            source_id_type: source >> 24,
            source_id_index: source & 0x00FF_FFFF,
            record_count: word::<8, 12>(f),
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
fn discard_sample<V: Visitor>(
    sample: &Element<'_>,
    visitor: &mut V,
) -> Result<DiscardSampleMeta, DecodeError> {
    let ds = DiscardSample::new_checked(sample.data)?;
    let sampled = scan_records(
        sample.data.get(32..).unwrap_or(&[]),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sflow::Structure;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn element(tag: u32, body: &[u8]) -> Vec<u8> {
        let mut v = words(&[tag, body.len() as u32]);
        v.extend_from_slice(body);
        v
    }

    #[derive(Default)]
    struct Log {
        headers: Vec<DatagramHeader>,
        flows: Vec<(FlowSampleMeta, SampleRecord)>,
        counters: Vec<CounterSampleMeta>,
        discards: Vec<DiscardSampleMeta>,
        unknown_samples: Vec<(u32, Tag)>,
        unknown_records: Vec<(SampleKind, Tag)>,
        errors: Vec<SampleError>,
    }

    impl Visitor for Log {
        fn datagram(&mut self, header: &DatagramHeader) {
            self.headers.push(*header);
        }
        fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
            self.flows.push((*meta, *record));
        }
        fn counter_sample(&mut self, meta: &CounterSampleMeta) {
            self.counters.push(*meta);
        }
        fn discard_sample(&mut self, meta: &DiscardSampleMeta) {
            self.discards.push(*meta);
        }
        fn unknown_sample(&mut self, index: u32, tag: Tag) {
            self.unknown_samples.push((index, tag));
        }
        fn unknown_record(&mut self, sample: SampleKind, tag: Tag) {
            self.unknown_records.push((sample, tag));
        }
        fn sample_error(&mut self, error: &SampleError) {
            self.errors.push(*error);
        }
    }

    /// A datagram with every kind of sample: flow (sampled header + an unknown vendor
    /// record), counters, an unknown sample type, a flow sample too short for its fixed
    /// part, an expanded flow sample with only a sampled-IPv4 record, and a discard sample.
    fn datagram() -> Vec<u8> {
        let mut d = words(&[5, 1, 0xC0A8_0001, 3, 77, 123_456, 6]);
        // flow sample: seq 10, source 0:5, rate 1000, pool 9000, drops 2, in 5, out 7
        let mut flow = words(&[10, 5, 1000, 9000, 2, 5, 7, 2]);
        let mut hdr = words(&[1, 1518, 4, 8]);
        hdr.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        flow.extend(element(1, &hdr));
        flow.extend(element((4413 << 12) | 9, &[0; 4]));
        d.extend(element(1, &flow));
        // counter sample with a generic record body of 0 bytes (not parsed on this path)
        let mut cs = words(&[4, (1 << 24) | 9, 1]);
        cs.extend(element(2203, &[]));
        d.extend(element(2, &cs));
        // unknown sample type
        d.extend(element((9 << 12) | 1, &[0; 8]));
        // flow sample with only 8 bytes: a per-sample error, the walk goes on
        d.extend(element(1, &[0; 8]));
        // expanded flow sample, source 0:70000, sampled IPv4 record only
        let mut xf = words(&[11, 0, 70_000, 400, 800, 0, 0, 3, 0, 0x3FFF_FFFF, 1]);
        xf.extend(element(
            3,
            &words(&[60, 17, 0x0A00_0001, 0x0A00_0002, 5353, 53, 0, 0]),
        ));
        d.extend(element(3, &xf));
        // discard sample: reason 259, no records
        d.extend(element(5, &words(&[1, 0, 3, 0, 2, 4, 259, 0])));
        d
    }

    #[test]
    fn every_sample_kind_reaches_the_visitor() {
        let d = datagram();
        let mut log = Log::default();
        let h = decode_datagram(&d, 42, &mut log).unwrap();
        assert_eq!(h.agent, "192.168.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (h.sub_agent, h.sequence, h.uptime_ms, h.sample_count),
            (3, 77, 123_456, 6)
        );
        assert_eq!(log.headers, vec![h]);

        assert_eq!(log.flows.len(), 2);
        let (m, r) = log.flows[0];
        assert_eq!(
            (m.index, m.sequence, m.sample_pool, m.drops),
            (0, 10, 9000, 2)
        );
        assert_eq!(m.header_protocol, Some(1));
        assert_eq!((r.source_index(), r.input(), r.output()), (5, 5, 7));
        assert_eq!(
            (r.sampling_rate(), r.frame_length(), r.received_ns),
            (1000, 1518, 42)
        );
        assert_eq!(r.agent, h.agent);
        assert_eq!(r.sub_agent, 3);

        let (m, r) = log.flows[1];
        assert!(m.expanded);
        assert_eq!((m.index, m.source_id_index), (4, 70_000));
        assert_eq!(r.source_index(), 70_000);
        assert_eq!(m.output, Interface::Internal);
        assert_eq!((r.output_format(), r.output()), (0, 0x3FFF_FFFF));
        assert_eq!(r.frame_length(), 60);
        assert_eq!(r.keys.udp_destination_port(), Some(53));
        assert_eq!(r.keys.ip_source(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(m.header_protocol, None);

        assert_eq!(log.counters.len(), 1);
        assert_eq!(
            (
                log.counters[0].source_id_type,
                log.counters[0].source_id_index
            ),
            (1, 9)
        );
        assert_eq!(log.discards.len(), 1);
        assert_eq!(log.discards[0].reason, 259);
        assert_eq!(log.discards[0].keys, None);
        assert_eq!(log.unknown_samples, vec![(2, Tag::new(9, 1))]);
        assert_eq!(
            log.unknown_records,
            vec![
                (SampleKind::Flow, Tag::new(4413, 9)),
                (SampleKind::Counters, Tag::new(0, 2203))
            ]
        );
        assert_eq!(log.errors.len(), 1);
        assert_eq!(log.errors[0].index, 3);
        assert!(matches!(
            log.errors[0].error,
            DecodeError::Truncated {
                what: Structure::FlowSample,
                ..
            }
        ));
    }

    #[test]
    fn every_truncation_is_an_error_or_partial_never_a_panic() {
        let d = datagram();
        for len in 0..d.len() {
            let mut log = Log::default();
            match decode_datagram(&d[..len], 0, &mut log) {
                Ok(_) => {
                    assert!(len >= 28);
                    // Six samples are declared and at least the last is cut or missing: the
                    // walk says so, for the sample where it stopped, and never reports more
                    // samples than there are.
                    assert!(!log.errors.is_empty(), "cut at {len}: no error reported");
                    let delivered = log.flows.len()
                        + log.counters.len()
                        + log.discards.len()
                        + log.unknown_samples.len();
                    assert!(delivered + log.errors.len() <= 6, "cut at {len}");
                    let last = log.errors.last().map(|e| e.index);
                    assert!(last >= Some(delivered as u32), "cut at {len}: {last:?}");
                    assert!(log.errors.iter().all(|e| matches!(
                        e.error,
                        DecodeError::Truncated { .. }
                            | DecodeError::LengthOverrun { .. }
                            | DecodeError::CountOverrun { .. }
                    )));
                }
                Err(_) => assert!(log.headers.is_empty() && log.errors.is_empty()),
            }
        }
    }

    #[test]
    fn bad_header_reports_nothing() {
        let mut log = Log::default();
        assert_eq!(
            decode_datagram(&words(&[4, 1, 0, 0, 0, 0, 0]), 0, &mut log),
            Err(DecodeError::UnsupportedVersion(4))
        );
        assert!(log.headers.is_empty());
    }
}
