//! One flow sample of either form, walked once: the fixed part, the records in whatever
//! order and number they come, the record written in place.
//!
//! Records are told apart by [`RECORD_CLASS`], a table over the enterprise-0 tags: the
//! sampled header (kept, the first one wins), the sampled Ethernet/IPv4/IPv6 records (kept
//! for the keys while no sampled header was seen), the other known records (stepped over),
//! and everything else (reported, stepped over). Nothing depends on the records' order or
//! on the sample's form beyond the fixed part's size, so an Open vSwitch sample (extended
//! switch first), a vendor's expanded sample with four records and a switch's compact
//! sample with one take the same loop. The sampled header's keys come from the
//! straight-line frame decoder when the frame has its shape ([`Ipv4Frame`], and in an IPv6
//! agent's walk either shape through [`Frame`]); any other frame, and a sample without a
//! sampled header, goes out of line.

use crate::packet::fast::{Frame, Ipv4Frame, Ipv6Frame};
use crate::packet::{decode_header_keys, PacketKeys};
use crate::record::SampleRecord;
use crate::sflow::error::{DecodeError, Structure};
use crate::sflow::flow_record::format as record_format;
use crate::sflow::layout::{
    element, expanded_flow_sample, extended_switch, flow_sample, sampled_header as sampled,
};
use crate::sflow::sample::format as sample_format;
use crate::sflow::sample::SampleKind;

use super::elements::{
    array_at, chunk_at, sample_failed, sampled_header, step, step_error, truncated, word, Header,
};
use super::samples::{
    compact_fixed, expanded_fixed, flow_meta, other_record, unknown_record, Others,
};
use super::Visitor;
use crate::sflow::datagram::Tag;

/// A compact flow sample (format 1), its body `data`: `record` gets its fields as sent.
#[inline(always)]
pub(super) fn compact<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    data: &[u8],
    visitor: &mut V,
) -> Result<(), DecodeError> {
    use flow_sample::{LEN, RECORD_COUNT};
    let Some((fixed, list)) = data.split_first_chunk::<LEN>() else {
        return Err(truncated(Structure::FlowSample, LEN, data.len()));
    };
    let mut others = Others::default();
    let count = word::<RECORD_COUNT, LEN>(fixed);
    let header = records(list, (count, count), None, visitor, &mut others)?;
    finish_compact(record, index, fixed, header, &others, visitor)
}

/// Bytes of a compact flow sample read as one array when the list has them: the sample's
/// envelope, its fixed part, its first record's envelope and that record's first 16 bytes
/// (a sampled header's fixed part). One length check covers them all.
pub(super) const COMPACT_HEAD: usize =
    element::LEN + flow_sample::LEN + element::LEN + sampled::LEN;

/// Where [`COMPACT_HEAD`]'s parts start: the sample's fixed part, its first record's
/// envelope, and that record's body (a sampled header's fixed part when it is one).
const FIXED: usize = element::LEN;
const FIRST: usize = FIXED + flow_sample::LEN;
const BODY: usize = FIRST + element::LEN;

/// The sample's declared length, in 64 bits (where no sum of these lengths overflows).
#[inline(always)]
fn sample_length(head: &[u8; COMPACT_HEAD]) -> u64 {
    u64::from(word::<{ element::LENGTH }, COMPACT_HEAD>(head))
}

/// The first record's declared length, in 64 bits.
#[inline(always)]
fn first_length(head: &[u8; COMPACT_HEAD]) -> u64 {
    u64::from(word::<{ FIRST + element::LENGTH }, COMPACT_HEAD>(head))
}

/// The first record's header length, should it be a sampled header, in 64 bits.
#[inline(always)]
fn header_length(head: &[u8; COMPACT_HEAD]) -> u64 {
    u64::from(word::<{ BODY + sampled::HEADER_LENGTH }, COMPACT_HEAD>(
        head,
    ))
}

/// A compact flow sample at the start of `rest`, whose first [`COMPACT_HEAD`] bytes are
/// `head`: the first record is read from `head`, whatever its type, the others by the
/// record loop. `None`, before anything is reported, when the sample is not whole words
/// long, has no record, or its first record runs past it: [`compact`] then takes it and
/// says what is wrong. Otherwise the bytes after the sample.
#[inline(always)]
pub(super) fn compact_head<'a, const SIX: bool, V: Visitor>(
    rest: &'a [u8],
    head: &[u8; COMPACT_HEAD],
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<&'a [u8]> {
    if SIX {
        if let Some(after) = compact_pair(rest, head, record, index, visitor) {
            return Some(after);
        }
    }
    let (length, first_length) = (sample_length(head), first_length(head));
    // The first record's padding matters only when records follow it (checked there).
    if length & 3 != 0 || first_length + 40 > length {
        return None;
    }
    let end = usize::try_from(8 + length).ok()?;
    let after = rest.get(end..)?;
    // A sampled header first (what nearly every agent but Open vSwitch sends): its fixed
    // part is already in `head`, so it is checked and read from there and stays in
    // registers. Anything else takes the record loop, out of line.
    let header_length = header_length(head);
    let first_is_header =
        array_at::<{ FIRST + element::TAG }, 4, COMPACT_HEAD>(head) == SAMPLED_HEADER_AS_SENT;
    if !first_is_header || header_length + 16 > first_length {
        return compact_apart::<SIX, V>(rest, head, end, record, index, visitor).map(|()| after);
    }
    let header_end = usize::try_from(COMPACT_HEAD as u64 + header_length).ok()?;
    let bytes = rest.get(COMPACT_HEAD..header_end)?;
    // The header alone, or followed by one record that a sample with a header passes in
    // silence (the usual pair, with an extended-switch record): checked here, the counts
    // compared as sent. Any other count (more records, or none), and a second record this
    // step cannot pass, take [`compact_apart`], before anything is reported: its quiet
    // pass or its record loop. The record count is read as a number only there, so that
    // this straight line does not carry it.
    if array_at::<{ FIXED + flow_sample::RECORD_COUNT }, 4, COMPACT_HEAD>(head) != ONE_AS_SENT {
        let quiet = first_length & 3 == 0
            && array_at::<{ FIXED + flow_sample::RECORD_COUNT }, 4, COMPACT_HEAD>(head)
                == TWO_AS_SENT
            && {
                let list = rest.get(usize::try_from(BODY as u64 + first_length).ok()?..end)?;
                usual_switch(list) || quiet_record(list).is_some()
            };
        if !quiet {
            return compact_more::<SIX, V>(rest, head, end, record, index, visitor).map(|()| after);
        }
    }
    header_first::<SIX, V>(head, bytes, record, index, visitor)?;
    Some(after)
}

/// A compact sample whose sampled header comes first, every check passed: `record` gets
/// the sample's fields and the header's keys, and the visitor the sample. The header's
/// fields are read from `head` here, where they are used, not kept across the checks;
/// `bytes` is the header itself.
#[inline(always)]
fn header_first<const SIX: bool, V: Visitor>(
    head: &[u8; COMPACT_HEAD],
    bytes: &[u8],
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<()> {
    let fixed = chunk_at::<FIXED, { flow_sample::LEN }, COMPACT_HEAD>(head)?;
    let frame_length = array_at::<{ BODY + sampled::FRAME_LENGTH }, 4, COMPACT_HEAD>(head);
    record.set_compact_words(fixed, frame_length);
    let h = Header {
        protocol: word::<{ BODY + sampled::PROTOCOL }, COMPACT_HEAD>(head),
        frame_length: u32::from_be_bytes(frame_length),
        bytes,
    };
    agent_keys::<SIX>(record, h);
    visitor.flow_sample(
        &flow_meta(index, &compact_fixed(fixed, &[]), Some(h)),
        record,
    );
    Some(())
}

/// [`compact_head`]'s sample in an IPv6 agent's copy of the walk when it is the usual pair,
/// a sampled header then an extended-switch record of its four words, checked in one
/// straight line with nothing kept for the other shapes: what [`compact_head`] would take
/// and report for it (the second record told by its envelope compared whole, one 8-byte
/// compare). `None`, before anything is reported, for anything else, which
/// [`compact_head`] then takes. Only in that copy: in the IPv4 agent's, the optimiser keeps
/// fewer of the loop's values in registers around it.
#[inline(always)]
fn compact_pair<'a, V: Visitor>(
    rest: &'a [u8],
    head: &[u8; COMPACT_HEAD],
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<&'a [u8]> {
    let (length, first_length) = (sample_length(head), first_length(head));
    let header_length = header_length(head);
    let pair = array_at::<{ FIXED + flow_sample::RECORD_COUNT }, 4, COMPACT_HEAD>(head)
        == TWO_AS_SENT
        && array_at::<{ FIRST + element::TAG }, 4, COMPACT_HEAD>(head) == SAMPLED_HEADER_AS_SENT;
    // Both records whole words and inside the sample (the switch record's 24 bytes right
    // after the header's), the header inside its record.
    if !pair
        || (length | first_length) & 3 != 0
        || header_length + 16 > first_length
        || BODY as u64 + first_length + SWITCH_RECORD as u64 > 8 + length
    {
        return None;
    }
    let after = rest.get(usize::try_from(8 + length).ok()?..)?;
    let switch = usize::try_from(BODY as u64 + first_length).ok()?;
    if rest.get(switch..)?.first_chunk::<{ element::LEN }>()? != &USUAL_SWITCH_ENVELOPE {
        return None;
    }
    let bytes =
        rest.get(COMPACT_HEAD..usize::try_from(COMPACT_HEAD as u64 + header_length).ok()?)?;
    header_first::<true, V>(head, bytes, record, index, visitor)?;
    Some(after)
}

/// Record counts of 1 and 2 as sent.
const ONE_AS_SENT: [u8; 4] = 1u32.to_be_bytes();
const TWO_AS_SENT: [u8; 4] = 2u32.to_be_bytes();

/// The sampled-header record's tag as sent.
const SAMPLED_HEADER_AS_SENT: [u8; 4] = record_format::SAMPLED_HEADER.to_be_bytes();

/// A [`compact_head`] sample that the straight line does not take, `end` its end in
/// `rest`: the quiet pass ([`quiet_header`]) when it finds the header, else the record loop
/// out of line ([`compact_loop`]). `None`, before anything is reported, when that loop
/// declines the sample.
#[inline(always)]
fn compact_apart<const SIX: bool, V: Visitor>(
    rest: &[u8],
    head: &[u8; COMPACT_HEAD],
    end: usize,
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<()> {
    let count = word::<{ FIXED + flow_sample::RECORD_COUNT }, COMPACT_HEAD>(head);
    let fixed = chunk_at::<FIXED, { flow_sample::LEN }, COMPACT_HEAD>(head)?;
    // Records in another order (Open vSwitch sends the extended-switch record first): one
    // quiet pass finds the header when there is nothing to report.
    let found = match rest.get(FIRST..end) {
        Some(list) => quiet_header::<false>(list, count),
        None => None,
    };
    if let Some((h, frame_length)) = found {
        record.set_compact_words(fixed, frame_length);
        agent_keys::<SIX>(record, h);
        visitor.flow_sample(
            &flow_meta(index, &compact_fixed(fixed, &[]), Some(h)),
            record,
        );
        return Some(());
    }
    compact_loop(rest, head, end, record, index, visitor)
}

/// [`compact_apart`] out of line, for a sample whose sampled header comes first but whose
/// records after it the straight line does not pass (more than one, or one it cannot):
/// so that the straight line keeps nothing for it across the header's checks.
#[inline(never)]
fn compact_more<const SIX: bool, V: Visitor>(
    rest: &[u8],
    head: &[u8; COMPACT_HEAD],
    end: usize,
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<()> {
    compact_apart::<SIX, V>(rest, head, end, record, index, visitor)
}

/// [`compact_apart`]'s sample through the record loop ([`compact_records`]), out of line,
/// its error reported. `None`, before anything is reported, for a sample without records
/// or with a padded first record (then [`compact`] says what is wrong or steps over it).
#[inline(never)]
fn compact_loop<V: Visitor>(
    rest: &[u8],
    head: &[u8; COMPACT_HEAD],
    end: usize,
    record: &mut SampleRecord,
    index: u32,
    visitor: &mut V,
) -> Option<()> {
    let count = word::<{ FIXED + flow_sample::RECORD_COUNT }, COMPACT_HEAD>(head);
    let first_length = word::<{ FIRST + element::LENGTH }, COMPACT_HEAD>(head);
    if count == 0 || first_length & 3 != 0 {
        return None;
    }
    let fixed = chunk_at::<FIXED, { flow_sample::LEN }, COMPACT_HEAD>(head)?;
    let first_end = usize::try_from(BODY as u64 + u64::from(first_length)).ok()?;
    let first = rest.get(BODY..first_end)?;
    let list = rest.get(first_end..end)?;
    let tag = Tag(word::<{ FIRST + element::TAG }, COMPACT_HEAD>(head));
    if let Err(error) = compact_records(record, index, fixed, (tag, first), list, count, visitor) {
        sample_failed(visitor, index, Tag(sample_format::FLOW), error);
    }
    Some(())
}

/// The first sampled header among the `count` records of `list`, checked, with its frame
/// length as sent, when the record loop ([`records`]) would find it and report nothing:
/// every record fits, is whole words long and is known, and no sampled Ethernet/IP record
/// comes before the header (the loop checks and keeps those). `None` for anything else,
/// which the record loop then takes.
///
/// Two passes over the one list: up to the header, only known records other than the
/// sampled Ethernet/IP ones; after it, [`quiet_records`], which needs no state at all.
#[inline(always)]
fn quiet_header<const UNROLL: bool>(mut list: &[u8], count: u32) -> Option<(Header<'_>, [u8; 4])> {
    let mut left = count;
    while left != 0 {
        left -= 1;
        let (envelope, body) = list.split_first_chunk::<{ element::LEN }>()?;
        let tag = array_at::<{ element::TAG }, 4, { element::LEN }>(envelope);
        let length = word::<{ element::LENGTH }, { element::LEN }>(envelope);
        if length & 3 != 0 {
            return None;
        }
        let (data, after) = body.split_at_checked(length as usize)?;
        list = after;
        if tag == SAMPLED_HEADER_AS_SENT {
            // Three records after the header, an expanded sample's usual four, passed
            // without the loop's counter (only there: a compact sample pays no compare).
            let quiet = match left {
                3 if UNROLL => quiet_record(list)
                    .and_then(quiet_record)
                    .and_then(quiet_record)
                    .is_some(),
                _ => quiet_records(list, left),
            };
            if !quiet {
                return None;
            }
            return header_record(data).ok();
        }
        if tag != EXTENDED_SWITCH_AS_SENT
            && RECORD_CLASS.get(u32::from_be_bytes(tag) as usize) != Some(&Class::Known)
        {
            return None;
        }
    }
    None
}

/// True when the `left` records in `list` all fit, are whole words long and are known
/// ones that a sample with a sampled header takes nothing from (and reports nothing about):
/// what [`records`] would step over in silence.
#[inline(always)]
fn quiet_records(mut list: &[u8], mut left: u32) -> bool {
    while left != 0 {
        match quiet_record(list) {
            Some(after) => list = after,
            None => return false,
        }
        left -= 1;
    }
    true
}

/// [`quiet_records`]' step: the bytes after the first record of `list`, when it passes.
#[inline(always)]
fn quiet_record(list: &[u8]) -> Option<&[u8]> {
    let (envelope, body) = list.split_first_chunk::<{ element::LEN }>()?;
    // The extended-switch record, nearly always the one there is, compared as sent.
    let tag = array_at::<{ element::TAG }, 4, { element::LEN }>(envelope);
    if tag != EXTENDED_SWITCH_AS_SENT && !quiet_tag(u32::from_be_bytes(tag)) {
        return None;
    }
    let length = word::<{ element::LENGTH }, { element::LEN }>(envelope);
    if length & 3 != 0 {
        return None;
    }
    body.get(length as usize..)
}

/// True when `list` starts with an extended-switch record of the four words the record
/// defines, which every agent sends: its whole envelope compared as sent, the length then
/// known. The pair's second record nearly always is one; anything else, [`quiet_record`].
#[inline(always)]
fn usual_switch(list: &[u8]) -> bool {
    match list.split_first_chunk::<{ element::LEN }>() {
        Some((envelope, body)) => {
            *envelope == USUAL_SWITCH_ENVELOPE && body.len() >= extended_switch::LEN
        }
        None => false,
    }
}

/// The extended-switch record's tag as sent.
const EXTENDED_SWITCH_AS_SENT: [u8; 4] = record_format::EXTENDED_SWITCH.to_be_bytes();

/// The extended-switch record's envelope as sent when its body is the record's four words.
const USUAL_SWITCH_ENVELOPE: [u8; element::LEN] = {
    let [t0, t1, t2, t3] = EXTENDED_SWITCH_AS_SENT;
    let [l0, l1, l2, l3] = (extended_switch::LEN as u32).to_be_bytes();
    [t0, t1, t2, t3, l0, l1, l2, l3]
};

/// Bytes of such an extended-switch record: its envelope and its four words.
const SWITCH_RECORD: usize = element::LEN + extended_switch::LEN;

/// A record that a sample with a sampled header steps over in silence: a known one.
#[inline(always)]
fn quiet_tag(tag: u32) -> bool {
    matches!(
        RECORD_CLASS.get(tag as usize),
        Some(Class::Known | Class::Sampled)
    )
}

/// [`compact_head`]'s sample once its first record (`first`: tag and body) is located.
#[inline(always)]
fn compact_records<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    fixed: &[u8; flow_sample::LEN],
    (tag, first): (Tag, &[u8]),
    list: &[u8],
    count: u32,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let mut others = Others::default();
    let mut header = None;
    take(tag, first, &mut header, visitor, &mut others)?;
    let header = records(list, (count, count - 1), header, visitor, &mut others)?;
    finish_compact(record, index, fixed, header, &others, visitor)
}

/// A compact flow sample's record, from its fixed part and its records' findings.
#[inline(always)]
fn finish_compact<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    fixed: &[u8; flow_sample::LEN],
    header: Option<&[u8]>,
    others: &Others<'_>,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let Some(header) = header else {
        record.set_compact_words(fixed, others_frame_length(others));
        keys_from_others(record, others);
        visitor.flow_sample(&flow_meta(index, &compact_fixed(fixed, &[]), None), record);
        return Ok(());
    };
    let (h, frame_length) = header_record(header)?;
    record.set_compact_words(fixed, frame_length);
    keys(record, h);
    visitor.flow_sample(
        &flow_meta(index, &compact_fixed(fixed, &[]), Some(h)),
        record,
    );
    Ok(())
}

/// An expanded flow sample (format 3): `record` gets its fields decoded.
#[inline(always)]
pub(super) fn expanded<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    data: &[u8],
    visitor: &mut V,
) -> Result<(), DecodeError> {
    use expanded_flow_sample::{LEN, RECORD_COUNT};
    let Some((fixed, list)) = data.split_first_chunk::<LEN>() else {
        return Err(truncated(Structure::FlowSample, LEN, data.len()));
    };
    let count = word::<RECORD_COUNT, LEN>(fixed);
    if let Some((h, frame_length)) = quiet_header::<true>(list, count) {
        record.set_expanded_words(fixed, frame_length);
        keys(record, h);
        visitor.flow_sample(
            &flow_meta(index, &expanded_fixed(fixed, &[]), Some(h)),
            record,
        );
        record.restore_compact();
        return Ok(());
    }
    expanded_records(record, index, fixed, list, count, visitor)
}

/// [`expanded`]'s sample when the quiet pass declines it: the record loop, out of line so
/// that the quiet path saves only the registers it needs.
#[inline(never)]
fn expanded_records<V: Visitor>(
    record: &mut SampleRecord,
    index: u32,
    fixed: &[u8; expanded_flow_sample::LEN],
    list: &[u8],
    count: u32,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let mut others = Others::default();
    let Some(header) = records(list, (count, count), None, visitor, &mut others)? else {
        record.set_expanded_words(fixed, others_frame_length(&others));
        keys_from_others(record, &others);
        visitor.flow_sample(&flow_meta(index, &expanded_fixed(fixed, &[]), None), record);
        record.restore_compact();
        return Ok(());
    };
    let (h, frame_length) = header_record(header)?;
    record.set_expanded_words(fixed, frame_length);
    keys(record, h);
    visitor.flow_sample(
        &flow_meta(index, &expanded_fixed(fixed, &[]), Some(h)),
        record,
    );
    record.restore_compact();
    Ok(())
}

/// A sampled-header record's parts ([`sampled_header`]) and its frame length as sent.
#[inline(always)]
fn header_record(data: &[u8]) -> Result<(Header<'_>, [u8; 4]), DecodeError> {
    let h = sampled_header(data)?;
    let frame_length = match data.first_chunk::<{ sampled::LEN }>() {
        Some(f) => array_at::<{ sampled::FRAME_LENGTH }, 4, { sampled::LEN }>(f),
        None => [0; 4],
    };
    Ok((h, frame_length))
}

/// What a flow record is to the walk.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    /// Not known here: reported and stepped over.
    Unknown,
    /// Known, nothing the record needs: stepped over.
    Known,
    /// Sampled Ethernet, IPv4 or IPv6: the keys of a sample without a sampled header.
    Sampled,
}

/// Enterprise-0 record tags (`tag < 4096`), by class; every other enterprise is unknown.
// Indexing in a constant initialiser: an index out of range fails the build, never a run.
#[allow(clippy::indexing_slicing)]
static RECORD_CLASS: [Class; 4096] = {
    let mut t = [Class::Unknown; 4096];
    let mut tag = 0;
    while tag < 4096 {
        if crate::sflow::flow_record::is_known(Tag(tag as u32)) {
            t[tag] = Class::Known;
        }
        tag += 1;
    }
    t[record_format::SAMPLED_ETHERNET as usize] = Class::Sampled;
    t[record_format::SAMPLED_IPV4 as usize] = Class::Sampled;
    t[record_format::SAMPLED_IPV6 as usize] = Class::Sampled;
    t
};

/// Take one record of a flow sample (tag `tag`, body `data`): keep the first sampled
/// header's body in `header`, a sampled Ethernet/IP record before it in `others`, report an
/// unknown one.
///
/// The header record is checked after the walk ([`sampled_header`]), or before anything
/// else can be reported (an unknown record, an error): the visitor hears exactly what a
/// check in place would have told it.
#[inline(always)]
fn take<'a, V: Visitor>(
    tag: Tag,
    data: &'a [u8],
    header: &mut Option<&'a [u8]>,
    visitor: &mut V,
    others: &mut Others<'a>,
) -> Result<(), DecodeError> {
    if tag.0 == record_format::SAMPLED_HEADER {
        if header.is_none() {
            *header = Some(data);
        }
        return Ok(());
    }
    match RECORD_CLASS.get(tag.0 as usize) {
        Some(Class::Known) => Ok(()),
        Some(Class::Sampled) if header.is_none() => other_record(tag, data, others),
        Some(Class::Sampled) => Ok(()),
        Some(Class::Unknown) | None => unknown(*header, visitor, tag),
    }
}

/// Walk the `left` records of `declared` still in `list` ([`take`] each), `header` what the
/// records before found. A record that does not fit fails the sample. The loop holds only
/// the list, the count left and the header's body.
#[inline(always)]
fn records<'a, V: Visitor>(
    mut list: &'a [u8],
    (declared, mut left): (u32, u32),
    mut header: Option<&'a [u8]>,
    visitor: &mut V,
    others: &mut Others<'a>,
) -> Result<Option<&'a [u8]>, DecodeError> {
    while left != 0 {
        let Some((tag, data)) = step(&mut list) else {
            return Err(record_error(header, list, declared, declared - left));
        };
        left -= 1;
        take(tag, data, &mut header, visitor, others)?;
    }
    Ok(header)
}

/// A record that does not fit, the sampled header before it checked first.
#[cold]
#[inline(never)]
fn record_error(header: Option<&[u8]>, list: &[u8], declared: u32, index: u32) -> DecodeError {
    match header.map(sampled_header) {
        Some(Err(error)) => error,
        _ => step_error(list, Structure::Record, declared, index),
    }
}

/// An unknown record, reported once the sampled header before it is checked.
#[cold]
#[inline(never)]
fn unknown<V: Visitor>(
    header: Option<&[u8]>,
    visitor: &mut V,
    tag: Tag,
) -> Result<(), DecodeError> {
    if let Some(data) = header {
        sampled_header(data)?;
    }
    unknown_record(visitor, SampleKind::Flow, tag);
    Ok(())
}

/// The frame length of a sample without a sampled header, big-endian: the sampled
/// records'.
#[inline(never)]
fn others_frame_length(others: &Others<'_>) -> [u8; 4] {
    others.frame_length().to_be_bytes()
}

/// The record's keys from its sampled header: straight-line for an Ethernet frame of the
/// common shape, by the general layer walk out of line for anything else.
#[inline(always)]
fn keys(record: &mut SampleRecord, h: Header<'_>) {
    if h.protocol == sampled::ETHERNET {
        if let Some(frame) = Ipv4Frame::parse(h.bytes) {
            frame.write_keys(&mut record.keys);
            frame.finish(&mut record.keys, &mut record.inner);
            return;
        }
    }
    general_keys(record, h.protocol, h.bytes);
}

/// [`keys`] in the walk of an agent of either address type (`SIX` for an IPv6 agent's):
/// an IPv6 agent's copy of the walk also takes the IPv6 frame in line, its own code apart
/// from the IPv4 agent's, which keeps [`keys`].
#[inline(always)]
fn agent_keys<const SIX: bool>(record: &mut SampleRecord, h: Header<'_>) {
    if !SIX {
        return keys(record, h);
    }
    if h.protocol == sampled::ETHERNET {
        match Frame::parse(h.bytes) {
            Some(Frame::V4(frame)) => {
                frame.write_keys(&mut record.keys);
                frame.finish(&mut record.keys, &mut record.inner);
                return;
            }
            Some(Frame::V6(frame)) => {
                frame.write_keys(&mut record.keys);
                return;
            }
            None => {}
        }
    }
    walked_keys(record, h.protocol, h.bytes);
}

/// Keys of a frame of another shape or header protocol: straight-line for an Ethernet
/// frame of the common IPv6 shape, by the general layer walk for anything else.
#[inline(never)]
fn general_keys(record: &mut SampleRecord, protocol: u32, bytes: &[u8]) {
    if protocol == sampled::ETHERNET {
        if let Some(frame) = Ipv6Frame::parse(bytes) {
            frame.write_keys(&mut record.keys);
            return;
        }
    }
    walked_keys(record, protocol, bytes);
}

/// Keys by the general layer walk. Its own function so that the IPv6 frame above does not
/// pay the walk's stack frame.
#[inline(never)]
fn walked_keys(record: &mut SampleRecord, protocol: u32, bytes: &[u8]) {
    record.keys = PacketKeys::EMPTY;
    decode_header_keys(protocol, bytes, &mut record.keys, &mut record.inner);
}

/// Keys from the sampled Ethernet/IP records: a sample without a sampled header.
#[inline(never)]
fn keys_from_others(record: &mut SampleRecord, others: &Others<'_>) {
    record.keys = PacketKeys::EMPTY;
    others.fill_keys(&mut record.keys);
}
