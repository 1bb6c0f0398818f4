//! The receive path's entry point for every datagram: walk it once, turn each flow sample
//! into a [`SampleRecord`], and tell a [`Visitor`] about everything else.
//!
//! This runs on the receive threads for every datagram, so it allocates nothing, formats
//! nothing and decodes only what the flow engine and loss accounting need: the datagram
//! header, each sample's fixed part, and the sampled header's keys. There is one walk for
//! every sample, whatever its form (compact or expanded), its records' order or its extra
//! records: the sample loop here, the flow sample's record loop in [`flow`] (records told
//! apart by a table), the sampled header by the straight-line frame decoder
//! ([`crate::packet::fast`]) when it has the common shape. What is rare goes out of line
//! (counter samples in [`counters`], discard samples in [`samples`], frames of other
//! shapes, samples without a sampled header, errors), so that the loops keep their state in
//! registers. An IPv4 agent's datagram header is read and walked in the caller, an IPv6
//! agent's the same way in a copy of the walk of its own, out of line, specialised for what
//! such agents send (`walk::<SIX>`: either frame shape in line, the usual record pair in one
//! straight line) without changing the IPv4 agent's code.
//!
//! Files by role: `mod.rs` the datagram and sample loop, `flow.rs` the flow sample,
//! `counters.rs` the counter sample, `samples.rs` the pieces the walk shares with the
//! oracle (fixed parts, discard samples, the oracle's counter sample), `elements.rs` the
//! fixed-offset reads and the element step, `oracle.rs` the general walk the tests compare
//! the walk against.
//!
//! No `unwrap`, `expect` or indexing here outside the tests (denied below): every read is a
//! checked slice method or a compile-time-checked fixed offset.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packet::PacketKeys;
use crate::record::SampleRecord;

use super::datagram::{Datagram, DatagramHeader, Tag};
use super::error::{DecodeError, SampleError, Structure};
use super::layout::datagram as dg;
use super::sample::{format as sample_format, Interface, SampleKind};
use super::Element;

mod counters;
mod elements;
mod flow;
mod oracle;
mod samples;
#[cfg(test)]
mod tests;

use elements::{array_at, envelope_failed, sample_failed, step, step_error, word};

/// The compact flow sample's tag as sent.
const FLOW_AS_SENT: [u8; 4] = sample_format::FLOW.to_be_bytes();
/// The counter samples' tags as sent.
const COUNTERS_AS_SENT: [u8; 4] = sample_format::COUNTERS.to_be_bytes();
const EXPANDED_COUNTERS_AS_SENT: [u8; 4] = sample_format::EXPANDED_COUNTERS.to_be_bytes();
#[doc(hidden)]
pub use oracle::decode_datagram_general;

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
/// Every sample and record is stepped over by its declared length (padded, but never past
/// its list); the walk stops only at an envelope or body that does not fit, since nothing
/// after it can be located.
#[inline(always)]
pub fn decode_datagram<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    // An IPv4 agent's header, the usual one, read at fixed offsets of one array and walked
    // here, its fields in registers; any other out of line.
    const LEN: usize = dg::LEN_IPV4;
    const TAIL: usize = dg::ADDRESS + dg::IPV4_LEN;
    match bytes.split_first_chunk::<LEN>() {
        Some((h, rest))
            if word::<{ dg::VERSION }, LEN>(h) == dg::VERSION_5
                && word::<{ dg::ADDRESS_TYPE }, LEN>(h) == dg::IPV4 =>
        {
            let header = DatagramHeader {
                agent: IpAddr::V4(Ipv4Addr::from(word::<{ dg::ADDRESS }, LEN>(h))),
                sub_agent: word::<{ TAIL + dg::SUB_AGENT }, LEN>(h),
                sequence: word::<{ TAIL + dg::SEQUENCE }, LEN>(h),
                uptime_ms: word::<{ TAIL + dg::UPTIME }, LEN>(h),
                sample_count: word::<{ TAIL + dg::SAMPLE_COUNT }, LEN>(h),
            };
            walk::<false, V>(&header, rest, received_ns, visitor);
            Ok(header)
        }
        _ => decode_other_header(bytes, received_ns, visitor),
    }
}

/// A datagram whose header is not the usual IPv4 one. An IPv6 agent's is read at fixed
/// offsets of one array as the IPv4 one is, and walked here with its fields in registers
/// (a copy of the walk of its own, so that the IPv4 one does not carry the longer address);
/// anything else is an error, which [`Datagram`] describes.
#[inline(never)]
fn decode_other_header<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    const LEN: usize = dg::LEN_IPV6;
    const TAIL: usize = dg::ADDRESS + dg::IPV6_LEN;
    match bytes.split_first_chunk::<LEN>() {
        Some((h, rest))
            if word::<{ dg::VERSION }, LEN>(h) == dg::VERSION_5
                && word::<{ dg::ADDRESS_TYPE }, LEN>(h) == dg::IPV6 =>
        {
            let address = array_at::<{ dg::ADDRESS }, { dg::IPV6_LEN }, LEN>(h);
            let header = DatagramHeader {
                agent: IpAddr::V6(Ipv6Addr::from(address)),
                sub_agent: word::<{ TAIL + dg::SUB_AGENT }, LEN>(h),
                sequence: word::<{ TAIL + dg::SEQUENCE }, LEN>(h),
                uptime_ms: word::<{ TAIL + dg::UPTIME }, LEN>(h),
                sample_count: word::<{ TAIL + dg::SAMPLE_COUNT }, LEN>(h),
            };
            walk::<true, V>(&header, rest, received_ns, visitor);
            Ok(header)
        }
        _ => decode_by_view(bytes, received_ns, visitor),
    }
}

/// A datagram whose header neither fixed-offset read takes: [`Datagram`] says what is wrong
/// with it. Should the view accept a header that they do not, its samples still take the
/// walk.
#[cold]
#[inline(never)]
fn decode_by_view<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    let datagram = Datagram::new_checked(bytes)?;
    let header = datagram.header();
    let rest = bytes.get(datagram.header_len()..).unwrap_or(&[]);
    walk::<false, V>(&header, rest, received_ns, visitor);
    Ok(header)
}

/// Tell the visitor about the datagram, then walk its samples. `SIX` for an IPv6 agent's
/// copy, which takes its samples' frames and records by straight lines of its own
/// ([`flow::compact_head`]); the IPv4 agent's copy keeps its own code generation.
#[inline(always)]
fn walk<const SIX: bool, V: Visitor>(
    header: &DatagramHeader,
    mut rest: &[u8],
    received_ns: u64,
    visitor: &mut V,
) {
    visitor.datagram(header);
    // One record for all the datagram's flow samples: the datagram's fields are written
    // once, and each sample overwrites only its own (the visitor sees it through a shared
    // reference, so what it was shown stays as it was).
    let mut record = SampleRecord::new_compact(header.agent, header.sub_agent, received_ns);
    prefetch_lines(rest);
    let declared = header.sample_count;
    let mut index = 0;
    while index < declared {
        // A compact flow sample, by far the most common, read from one array.
        if let Some(head) = rest.first_chunk::<{ flow::COMPACT_HEAD }>() {
            if array_at::<0, 4, { flow::COMPACT_HEAD }>(head) == FLOW_AS_SENT {
                if let Some(after) =
                    flow::compact_head::<SIX, V>(rest, head, &mut record, index, visitor)
                {
                    rest = after;
                    index += 1;
                    continue;
                }
            }
        }
        match sample_apart(rest, &mut record, (declared, index), visitor) {
            Some(after) => rest = after,
            None => break,
        }
        index += 1;
    }
}

/// Any sample the loop above does not take whole, out of line so that the loop keeps its
/// state in registers: the bytes after it, `None` when its envelope does not fit (nothing
/// after it can be located). Only a dispatch on the tag as sent, so that each kind's own
/// step saves just the registers it needs: counter samples, several to a quiet agent's
/// datagram, to their own walk ([`counters`]), everything else to [`flow_or_other`].
#[inline(never)]
fn sample_apart<'a, V: Visitor>(
    rest: &'a [u8],
    record: &mut SampleRecord,
    (declared, index): (u32, u32),
    visitor: &mut V,
) -> Option<&'a [u8]> {
    match rest.first_chunk::<4>() {
        Some(tag) if *tag == COUNTERS_AS_SENT || *tag == EXPANDED_COUNTERS_AS_SENT => {
            counters::counter_sample_at(rest, (declared, index), visitor)
        }
        _ => flow_or_other(rest, record, (declared, index), visitor),
    }
}

/// [`sample_apart`]'s sample when it is no counter sample: an expanded flow sample walked
/// here, anything else through [`other_sample`].
#[inline(never)]
fn flow_or_other<'a, V: Visitor>(
    mut rest: &'a [u8],
    record: &mut SampleRecord,
    (declared, index): (u32, u32),
    visitor: &mut V,
) -> Option<&'a [u8]> {
    let Some((tag, data)) = step(&mut rest) else {
        envelope_failed(
            visitor,
            index,
            step_error(rest, Structure::Sample, declared, index),
        );
        return None;
    };
    // Enterprise 0 sample formats, compared as whole tags (enterprise << 12 | format).
    if tag.0 == sample_format::EXPANDED_FLOW {
        if let Err(error) = flow::expanded(record, index, data, visitor) {
            sample_failed(visitor, index, tag, error);
        }
    } else {
        other_sample(record, index, tag, data, visitor);
    }
    Some(rest)
}

/// Every sample [`flow_or_other`] does not take itself (compact flow samples the loop did
/// not take whole, discard samples, unknown ones; counter samples too, though
/// [`sample_apart`] sends them elsewhere), its error reported.
#[inline(never)]
fn other_sample<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    tag: Tag,
    data: &[u8],
    visitor: &mut V,
) {
    let result = match tag.0 {
        sample_format::FLOW => flow::compact(record, index, data, visitor),
        sample_format::COUNTERS | sample_format::EXPANDED_COUNTERS => samples::counter_sample(
            index,
            data,
            tag.0 == sample_format::EXPANDED_COUNTERS,
            visitor,
        )
        .map(|meta| visitor.counter_sample(&meta)),
        sample_format::DISCARDED_PACKET => {
            samples::discard_sample(&Element { index, tag, data }, visitor)
                .map(|meta| visitor.discard_sample(&meta))
        }
        _ => {
            visitor.unknown_sample(index, tag);
            Ok(())
        }
    };
    if let Err(error) = result {
        sample_failed(visitor, index, tag, error);
    }
}

/// Ask for every cache line of `bytes` (the first [`PREFETCH_MAX`] bytes of them).
///
/// The sample walk is a chain of dependent loads (a sample's length gives the next one's
/// place), so when a datagram is no longer in L1 (a burst of receives, the bench's working
/// set) each link would wait for its own line; asked for up front, the lines arrive in
/// parallel. On a datagram still in L1 each request costs one instruction and nothing else.
///
/// Two fixed runs of [`HALF_LINES`] lines and one compare, instead of a compare per few
/// lines: the run that ends at the datagram's last byte always, the run from its first byte
/// when the datagram is longer than one run. A short datagram's run then reaches back before
/// its start (memory already walked, or its buffer's own header), never ahead past its end,
/// where the next datagram lies.
#[inline(always)]
fn prefetch_lines(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        let len = bytes.len().min(PREFETCH_MAX);
        if len > HALF_LINES * LINE {
            prefetch_run(bytes.as_ptr(), LINE);
        }
        // Backwards from the last byte, so that the run's last request is that byte's line.
        prefetch_run(
            bytes.as_ptr().wrapping_add(len).wrapping_sub(1),
            LINE.wrapping_neg(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// [`HALF_LINES`] requests from `from`, `step` bytes apart (one cache line, either way).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_run(from: *const u8, step: usize) {
    for line in 0..HALF_LINES {
        // SAFETY: a prefetch is a hint: it reads nothing and never faults, whatever
        // the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                from.wrapping_add(line.wrapping_mul(step)).cast(),
            );
        }
    }
}

/// Bytes of a datagram [`prefetch_lines`] asks for: an Ethernet MTU's worth. The hardware
/// prefetchers follow the walk through longer (jumbo) datagrams.
const PREFETCH_MAX: usize = 2 * HALF_LINES * LINE;
/// Lines in each of [`prefetch_lines`]' two runs, and a cache line's bytes.
const HALF_LINES: usize = 12;
const LINE: usize = 64;
