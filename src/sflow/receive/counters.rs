//! The walk's counter sample (formats 2 and 4): its fixed part, then every record's
//! envelope handed to the visitor as sent, the sample's own call last.
//!
//! Counter samples come several to a datagram from a quiet agent, and the receive path
//! decodes none of their records (the visitor gets each body as sent), so all a sample
//! costs is the walk over its envelopes: one bounds check per record, a table for the
//! known tags, and nothing of the error path until an envelope does not fit. The oracle
//! walks the same samples through [`super::samples::counter_sample`], which the
//! differential test holds this one to.

use crate::sflow::counter;
use crate::sflow::datagram::Tag;
use crate::sflow::error::Structure;
use crate::sflow::layout::{counter_sample, expanded_counter_sample, source_id};
use crate::sflow::sample::{format as sample_format, SampleKind};

use super::elements::{envelope_failed, sample_failed, step, step_error, truncated, word};
use super::samples::unknown_record;
use super::{CounterSampleMeta, Visitor};

/// The counter sample at the start of `rest`, sample `index` of the `declared` in its
/// datagram, reported to `visitor` as the oracle reports it (its error included): the bytes
/// after it, `None` when its envelope does not fit (nothing after it can be located).
#[inline(never)]
pub(super) fn counter_sample_at<'a, V: Visitor>(
    mut rest: &'a [u8],
    (declared, index): (u32, u32),
    visitor: &mut V,
) -> Option<&'a [u8]> {
    let Some((tag, data)) = step(&mut rest) else {
        let error = step_error(rest, Structure::Sample, declared, index);
        envelope_failed(visitor, index, error);
        return None;
    };
    counter_sample(index, tag, data, visitor);
    Some(rest)
}

/// A counter sample, `tag` and body `data`, sample `index` of its datagram.
#[inline(always)]
fn counter_sample<V: Visitor>(index: u32, tag: Tag, data: &[u8], visitor: &mut V) {
    let Some((meta, mut list)) = fixed_part(index, tag, data) else {
        let needed = if tag.0 == sample_format::EXPANDED_COUNTERS {
            expanded_counter_sample::LEN
        } else {
            counter_sample::LEN
        };
        let error = truncated(Structure::CounterSample, needed, data.len());
        sample_failed(visitor, index, tag, error);
        return;
    };
    let declared = meta.record_count;
    let mut left = declared;
    while left != 0 {
        let Some((record, body)) = step(&mut list) else {
            let error = step_error(list, Structure::Record, declared, declared - left);
            sample_failed(visitor, index, tag, error);
            return;
        };
        visitor.counter_record(record, body);
        if !is_known(record) {
            unknown_record(visitor, SampleKind::Counters, record);
        }
        left -= 1;
    }
    visitor.counter_sample(&meta);
}

/// The sample's fixed part in either form and its record list; `None` when `data` is
/// shorter than the fixed part.
#[inline(always)]
fn fixed_part(index: u32, tag: Tag, data: &[u8]) -> Option<(CounterSampleMeta, &[u8])> {
    if tag.0 == sample_format::EXPANDED_COUNTERS {
        use expanded_counter_sample::*;
        let (f, list) = data.split_first_chunk::<LEN>()?;
        let meta = CounterSampleMeta {
            index,
            expanded: true,
            sequence: word::<SEQUENCE, LEN>(f),
            source_id_type: word::<SOURCE_TYPE, LEN>(f),
            source_id_index: word::<SOURCE_INDEX, LEN>(f),
            record_count: word::<RECORD_COUNT, LEN>(f),
        };
        Some((meta, list))
    } else {
        use counter_sample::*;
        let (f, list) = data.split_first_chunk::<LEN>()?;
        let source = word::<SOURCE_ID, LEN>(f);
        let meta = CounterSampleMeta {
            index,
            expanded: false,
            sequence: word::<SEQUENCE, LEN>(f),
            source_id_type: source >> source_id::TYPE_SHIFT,
            source_id_index: source & source_id::INDEX_MASK,
            record_count: word::<RECORD_COUNT, LEN>(f),
        };
        Some((meta, list))
    }
}

/// Whether `tag` is a counter record this decoder knows ([`counter::is_known`]), by a bit
/// table over the enterprise-0 tags.
#[inline(always)]
fn is_known(tag: Tag) -> bool {
    match KNOWN.get((tag.0 >> 6) as usize) {
        Some(bits) => bits >> (tag.0 & 63) & 1 != 0,
        None => false,
    }
}

/// [`counter::is_known`] for every enterprise-0 tag (`tag < 4096`), a bit each.
// Indexing in a constant initialiser: an index out of range fails the build, never a run.
#[allow(clippy::indexing_slicing)]
static KNOWN: [u64; 64] = {
    let mut bits = [0u64; 64];
    let mut tag = 0;
    while tag < 4096 {
        if counter::is_known(Tag(tag)) {
            bits[(tag >> 6) as usize] |= 1 << (tag & 63);
        }
        tag += 1;
    }
    bits
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_agrees_with_is_known() {
        for tag in (0..8192).chain([u32::MAX, 1 << 12 | 1, 0xFFFF_F001]) {
            assert_eq!(
                is_known(Tag(tag)),
                counter::is_known(Tag(tag)),
                "tag {tag:#x}"
            );
        }
    }
}
