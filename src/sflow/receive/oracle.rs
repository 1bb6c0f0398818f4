//! The test oracle: the same decode as [`super::decode_datagram`], written for clarity
//! instead of speed, so that the receive walk can be checked against it.
//!
//! The datagram header through the [`Datagram`] view, each sample's records scanned in one
//! loop, a fresh record per flow sample filled through the record's setters, and every
//! sampled header through the general layer walk ([`decode_header_keys`]), never the
//! straight-line frame decoder. `tests/decode_walk.rs` feeds both the corpus, every
//! truncation of it, seeded mutations and every synthetic layout, and requires identical
//! visitor calls. Not for production use: it is several times slower.

use crate::packet::decode_header_keys;
use crate::record::SampleRecord;
use crate::sflow::datagram::{Datagram, DatagramHeader};
use crate::sflow::error::{DecodeError, Structure};
use crate::sflow::sample::{format as sample_format, SampleKind};
use crate::sflow::Element;

use super::elements::{envelope_failed, next_element, sample_failed, Header};
use super::samples::{
    compact_flow, counter_sample, discard_sample, expanded_flow, flow_meta, scan_records,
    FlowFixed, Others,
};
use super::Visitor;

/// [`super::decode_datagram`], by the oracle's general walk.
#[doc(hidden)]
pub fn decode_datagram_general<V: Visitor>(
    bytes: &[u8],
    received_ns: u64,
    visitor: &mut V,
) -> Result<DatagramHeader, DecodeError> {
    let datagram = Datagram::new_checked(bytes)?;
    let header = datagram.header();
    let mut rest = bytes.get(datagram.header_len()..).unwrap_or(&[]);
    visitor.datagram(&header);
    let base = SampleRecord::new(header.agent, header.sub_agent, received_ns);
    for index in 0..header.sample_count {
        let (tag, data) =
            match next_element(&mut rest, Structure::Sample, header.sample_count, index) {
                Ok(element) => element,
                Err(error) => {
                    envelope_failed(visitor, index, error);
                    break;
                }
            };
        let result = match tag.0 {
            sample_format::FLOW => {
                compact_flow(data).and_then(|f| flow_sample(&base, index, f, visitor))
            }
            sample_format::EXPANDED_FLOW => {
                expanded_flow(data).and_then(|f| flow_sample(&base, index, f, visitor))
            }
            sample_format::COUNTERS | sample_format::EXPANDED_COUNTERS => counter_sample(
                index,
                data,
                tag.0 == sample_format::EXPANDED_COUNTERS,
                visitor,
            )
            .map(|meta| visitor.counter_sample(&meta)),
            sample_format::DISCARDED_PACKET => {
                discard_sample(&Element { index, tag, data }, visitor)
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
    Ok(header)
}

/// A flow sample of either form: its records scanned, then a fresh record filled.
fn flow_sample<V: Visitor>(
    base: &SampleRecord,
    index: u32,
    fs: FlowFixed<'_>,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let mut others = Others::default();
    let sampled: Option<Header<'_>> = scan_records(
        fs.records,
        fs.record_count,
        SampleKind::Flow,
        visitor,
        &mut others,
    )?;
    let mut record = *base;
    record.set_sequence(fs.sequence);
    record.set_source(fs.source_id_type, fs.source_id_index);
    record.set_input(fs.input_format, fs.input_value);
    record.set_output(fs.output_format, fs.output_value);
    record.set_sampling_rate(fs.sampling_rate);
    match sampled {
        Some(h) => {
            record.set_frame_length(h.frame_length);
            decode_header_keys(h.protocol, h.bytes, &mut record.keys, &mut record.inner);
        }
        None => {
            record.set_frame_length(others.frame_length());
            others.fill_keys(&mut record.keys);
        }
    }
    visitor.flow_sample(&flow_meta(index, &fs, sampled), &record);
    Ok(())
}
