//! Views over the fixed part of the sample types: flow (1), counters (2), expanded flow (3),
//! expanded counters (4) and discarded packet (5, sFlow drop-notification extension).
//!
//! The compact and expanded forms differ only in how the data source and the interfaces are
//! encoded (one word with the type/format in the top bits, or two words), so one view serves
//! both, reading through the field table of its form. `new_checked` checks the fixed part; the
//! records that follow are walked with [`Elements`].

use super::datagram::{Elements, Tag};
use super::error::{DecodeError, Structure};
use super::layout;
use super::xdr::u32_at;

/// Sample formats of enterprise 0.
pub mod format {
    pub const FLOW: u32 = 1;
    pub const COUNTERS: u32 = 2;
    pub const EXPANDED_FLOW: u32 = 3;
    pub const EXPANDED_COUNTERS: u32 = 4;
    pub const DISCARDED_PACKET: u32 = 5;
}

/// What kind of sample a structure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleKind {
    Flow,
    Counters,
    Discard,
}

impl SampleKind {
    /// The kind and expanded-ness of a sample tag, or `None` for a tag this decoder does not know.
    pub fn of(tag: Tag) -> Option<(SampleKind, bool)> {
        if tag.enterprise() != 0 {
            return None;
        }
        match tag.format() {
            format::FLOW => Some((SampleKind::Flow, false)),
            format::EXPANDED_FLOW => Some((SampleKind::Flow, true)),
            format::COUNTERS => Some((SampleKind::Counters, false)),
            format::EXPANDED_COUNTERS => Some((SampleKind::Counters, true)),
            format::DISCARDED_PACKET => Some((SampleKind::Discard, true)),
            _ => None,
        }
    }
}

/// An sFlow interface value: an ifIndex, or one of the special forms the top two bits of
/// the compact word (or the format word of the expanded form) select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interface {
    /// Format 0: a single interface.
    Index(u32),
    /// Format 0 with the value 0x3FFFFFFF: the packet came from / went to the agent itself.
    Internal,
    /// Format 1: the packet was discarded; the value is the reason code.
    Discarded(u32),
    /// Format 2: several output interfaces; the value is their number (0 = unknown).
    Multiple(u32),
    /// Any other format, with its value.
    Unknown { format: u32, value: u32 },
}

impl Interface {
    /// From the expanded form's two words.
    pub fn from_parts(format: u32, value: u32) -> Interface {
        match format {
            0 if value == 0x3FFF_FFFF => Interface::Internal,
            0 => Interface::Index(value),
            1 => Interface::Discarded(value),
            2 => Interface::Multiple(value),
            f => Interface::Unknown { format: f, value },
        }
    }

    /// From the compact form's single word (format in the top two bits).
    pub fn from_word(word: u32) -> Interface {
        Interface::from_parts(word >> 30, word & 0x3FFF_FFFF)
    }

    /// The format number (0 ifIndex, 1 discarded, 2 multiple).
    pub fn format(self) -> u32 {
        match self {
            Interface::Index(_) | Interface::Internal => 0,
            Interface::Discarded(_) => 1,
            Interface::Multiple(_) => 2,
            Interface::Unknown { format, .. } => format,
        }
    }

    /// The value part (ifIndex, reason, count).
    pub fn value(self) -> u32 {
        match self {
            Interface::Index(v)
            | Interface::Discarded(v)
            | Interface::Multiple(v)
            | Interface::Unknown { value: v, .. } => v,
            Interface::Internal => 0x3FFF_FFFF,
        }
    }

    /// The compact word (format in the top two bits). What that form cannot hold (an expanded value of 2^30 or more, or a
    /// format above 3) becomes format 3, which the specification leaves reserved and which
    /// no consumer reads as an ifIndex: such a sample then lacks the `inputifindex` /
    /// `outputifindex` key instead of carrying a wrong one.
    pub fn word(self) -> u32 {
        let (format, value) = (self.format(), self.value());
        if format > 3 || value > 0x3FFF_FFFF {
            return 0xC000_0000 | (value & 0x3FFF_FFFF);
        }
        (format << 30) | value
    }
}

/// Fold a data source (type, index) into the compact word: type in the top 8 bits.
/// Indexes of 2^24 or more exist only in the expanded form and lose their top bits here;
/// the full values travel in the sample metadata ([`super::FlowSampleMeta`]).
pub fn fold_source_id(source_type: u32, index: u32) -> u32 {
    (source_type << 24) | (index & 0x00FF_FFFF)
}

/// Where each field of a flow sample sits. The compact and expanded forms differ only in
/// their data-source and interface encodings (one word with the type or format in the top
/// bits, or two words), so each form is one table and a view holds the right one.
#[derive(Debug, PartialEq, Eq)]
struct FlowLayout {
    sequence: usize,
    /// Compact: the one source-id word. Expanded: the type word (the index follows).
    source_id: usize,
    sampling_rate: usize,
    sample_pool: usize,
    drops: usize,
    /// Compact: the interface word. Expanded: the format word (the value follows).
    input: usize,
    output: usize,
    record_count: usize,
    /// Where the records start: the length of the fixed part.
    records: usize,
}

/// Flow sample, format 1.
const FLOW: FlowLayout = FlowLayout {
    sequence: layout::flow_sample::SEQUENCE,
    source_id: layout::flow_sample::SOURCE_ID,
    sampling_rate: layout::flow_sample::SAMPLING_RATE,
    sample_pool: layout::flow_sample::SAMPLE_POOL,
    drops: layout::flow_sample::DROPS,
    input: layout::flow_sample::INPUT,
    output: layout::flow_sample::OUTPUT,
    record_count: layout::flow_sample::RECORD_COUNT,
    records: layout::flow_sample::LEN,
};

/// Expanded flow sample, format 3.
const EXPANDED_FLOW: FlowLayout = FlowLayout {
    sequence: layout::expanded_flow_sample::SEQUENCE,
    source_id: layout::expanded_flow_sample::SOURCE_TYPE,
    sampling_rate: layout::expanded_flow_sample::SAMPLING_RATE,
    sample_pool: layout::expanded_flow_sample::SAMPLE_POOL,
    drops: layout::expanded_flow_sample::DROPS,
    input: layout::expanded_flow_sample::INPUT_FORMAT,
    output: layout::expanded_flow_sample::OUTPUT_FORMAT,
    record_count: layout::expanded_flow_sample::RECORD_COUNT,
    records: layout::expanded_flow_sample::LEN,
};

/// Where each field of a counter sample sits, per form.
#[derive(Debug, PartialEq, Eq)]
struct CounterLayout {
    sequence: usize,
    source_id: usize,
    record_count: usize,
    records: usize,
}

/// Counter sample, format 2.
const COUNTERS: CounterLayout = CounterLayout {
    sequence: layout::counter_sample::SEQUENCE,
    source_id: layout::counter_sample::SOURCE_ID,
    record_count: layout::counter_sample::RECORD_COUNT,
    records: layout::counter_sample::LEN,
};

/// Expanded counter sample, format 4.
const EXPANDED_COUNTERS: CounterLayout = CounterLayout {
    sequence: layout::expanded_counter_sample::SEQUENCE,
    source_id: layout::expanded_counter_sample::SOURCE_TYPE,
    record_count: layout::expanded_counter_sample::RECORD_COUNT,
    records: layout::expanded_counter_sample::LEN,
};

/// The data source at `at` in either form: (type, index).
fn source_id(data: &[u8], at: usize, expanded: bool) -> (u32, u32) {
    let word = u32_at(data, at);
    if expanded {
        (word, u32_at(data, at + 4))
    } else {
        (word >> 24, word & 0x00FF_FFFF)
    }
}

/// An interface in either form.
fn interface(data: &[u8], at: usize, expanded: bool) -> Interface {
    if expanded {
        Interface::from_parts(u32_at(data, at), u32_at(data, at + 4))
    } else {
        Interface::from_word(u32_at(data, at))
    }
}

/// A flow sample (format 1) or expanded flow sample (format 3).
#[derive(Clone, Copy, Debug)]
pub struct FlowSample<'a> {
    data: &'a [u8],
    layout: &'static FlowLayout,
    expanded: bool,
}

impl<'a> FlowSample<'a> {
    /// Check that the fixed part is present.
    pub fn new_checked(data: &'a [u8], expanded: bool) -> Result<FlowSample<'a>, DecodeError> {
        let layout = if expanded { &EXPANDED_FLOW } else { &FLOW };
        if data.len() < layout.records {
            return Err(DecodeError::Truncated {
                what: Structure::FlowSample,
                needed: layout.records,
                available: data.len(),
            });
        }
        Ok(FlowSample {
            data,
            layout,
            expanded,
        })
    }

    pub fn is_expanded(&self) -> bool {
        self.expanded
    }

    pub fn sequence_number(&self) -> u32 {
        u32_at(self.data, self.layout.sequence)
    }

    pub fn source_id_type(&self) -> u32 {
        source_id(self.data, self.layout.source_id, self.expanded).0
    }

    pub fn source_id_index(&self) -> u32 {
        source_id(self.data, self.layout.source_id, self.expanded).1
    }

    pub fn sampling_rate(&self) -> u32 {
        u32_at(self.data, self.layout.sampling_rate)
    }

    pub fn sample_pool(&self) -> u32 {
        u32_at(self.data, self.layout.sample_pool)
    }

    pub fn drops(&self) -> u32 {
        u32_at(self.data, self.layout.drops)
    }

    pub fn input(&self) -> Interface {
        interface(self.data, self.layout.input, self.expanded)
    }

    pub fn output(&self) -> Interface {
        interface(self.data, self.layout.output, self.expanded)
    }

    pub fn record_count(&self) -> u32 {
        u32_at(self.data, self.layout.record_count)
    }

    pub fn records(&self) -> Elements<'a> {
        Elements::new(
            self.data.get(self.layout.records..).unwrap_or(&[]),
            self.record_count(),
            Structure::Record,
        )
    }
}

/// A counter sample (format 2) or expanded counter sample (format 4).
#[derive(Clone, Copy, Debug)]
pub struct CounterSample<'a> {
    data: &'a [u8],
    layout: &'static CounterLayout,
    expanded: bool,
}

impl<'a> CounterSample<'a> {
    /// Check that the fixed part is present.
    pub fn new_checked(data: &'a [u8], expanded: bool) -> Result<CounterSample<'a>, DecodeError> {
        let layout = if expanded {
            &EXPANDED_COUNTERS
        } else {
            &COUNTERS
        };
        if data.len() < layout.records {
            return Err(DecodeError::Truncated {
                what: Structure::CounterSample,
                needed: layout.records,
                available: data.len(),
            });
        }
        Ok(CounterSample {
            data,
            layout,
            expanded,
        })
    }

    pub fn is_expanded(&self) -> bool {
        self.expanded
    }

    pub fn sequence_number(&self) -> u32 {
        u32_at(self.data, self.layout.sequence)
    }

    pub fn source_id_type(&self) -> u32 {
        source_id(self.data, self.layout.source_id, self.expanded).0
    }

    pub fn source_id_index(&self) -> u32 {
        source_id(self.data, self.layout.source_id, self.expanded).1
    }

    pub fn record_count(&self) -> u32 {
        u32_at(self.data, self.layout.record_count)
    }

    pub fn records(&self) -> Elements<'a> {
        Elements::new(
            self.data.get(self.layout.records..).unwrap_or(&[]),
            self.record_count(),
            Structure::Record,
        )
    }
}

/// A discarded-packet sample (format 5, sFlow drop notification): always the expanded
/// data-source form, with ifIndex words for input and output and a drop reason.
#[derive(Clone, Copy, Debug)]
pub struct DiscardSample<'a> {
    data: &'a [u8],
}

mod discard_field {
    pub use crate::sflow::layout::discard_sample::*;
    pub const RECORDS: usize = LEN;
}

impl<'a> DiscardSample<'a> {
    pub fn new_checked(data: &'a [u8]) -> Result<DiscardSample<'a>, DecodeError> {
        if data.len() < discard_field::RECORDS {
            return Err(DecodeError::Truncated {
                what: Structure::DiscardSample,
                needed: discard_field::RECORDS,
                available: data.len(),
            });
        }
        Ok(DiscardSample { data })
    }

    pub fn sequence_number(&self) -> u32 {
        u32_at(self.data, discard_field::SEQUENCE)
    }
    pub fn source_id_type(&self) -> u32 {
        u32_at(self.data, discard_field::SOURCE_TYPE)
    }
    pub fn source_id_index(&self) -> u32 {
        u32_at(self.data, discard_field::SOURCE_INDEX)
    }
    pub fn drops(&self) -> u32 {
        u32_at(self.data, discard_field::DROPS)
    }
    /// Input ifIndex (0 when unknown).
    pub fn input(&self) -> u32 {
        u32_at(self.data, discard_field::INPUT)
    }
    /// Output ifIndex (0 when unknown).
    pub fn output(&self) -> u32 {
        u32_at(self.data, discard_field::OUTPUT)
    }
    /// The drop reason (sFlow drop-notification `drop_reason`, mostly ICMP-unreachable
    /// style codes below 256 and vendor-neutral codes from 256).
    pub fn reason(&self) -> u32 {
        u32_at(self.data, discard_field::REASON)
    }
    pub fn record_count(&self) -> u32 {
        u32_at(self.data, discard_field::RECORD_COUNT)
    }
    pub fn records(&self) -> Elements<'a> {
        Elements::new(
            self.data.get(discard_field::RECORDS..).unwrap_or(&[]),
            self.record_count(),
            Structure::Record,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn compact_flow_sample() {
        let b = words(&[9, 17, 1000, 5000, 2, 0x3FFF_FFFF, 0x8000_0003, 0]);
        let s = FlowSample::new_checked(&b, false).unwrap();
        assert_eq!(s.sequence_number(), 9);
        assert_eq!((s.source_id_type(), s.source_id_index()), (0, 17));
        assert_eq!(s.sampling_rate(), 1000);
        assert_eq!(s.sample_pool(), 5000);
        assert_eq!(s.drops(), 2);
        assert_eq!(s.input(), Interface::Internal);
        assert_eq!(s.output(), Interface::Multiple(3));
        assert_eq!(s.output().word(), 0x8000_0003);
        assert_eq!(s.records().count(), 0);
        assert!(FlowSample::new_checked(&b[..31], false).is_err());
    }

    #[test]
    fn expanded_flow_sample() {
        let b = words(&[9, 1, 1_285_816_721, 1000, 5000, 2, 0, 29001, 1, 7, 0]);
        let s = FlowSample::new_checked(&b, true).unwrap();
        assert_eq!(
            (s.source_id_type(), s.source_id_index()),
            (1, 1_285_816_721)
        );
        assert_eq!(s.sampling_rate(), 1000);
        assert_eq!(s.sample_pool(), 5000);
        assert_eq!(s.drops(), 2);
        assert_eq!(s.input(), Interface::Index(29001));
        assert_eq!(s.output(), Interface::Discarded(7));
        assert_eq!(s.record_count(), 0);
        assert!(FlowSample::new_checked(&b[..43], true).is_err());
    }

    #[test]
    fn counter_and_discard_samples() {
        let b = words(&[4, (2 << 24) | 5, 0]);
        let c = CounterSample::new_checked(&b, false).unwrap();
        assert_eq!((c.source_id_type(), c.source_id_index()), (2, 5));
        let b = words(&[4, 0, 70000, 0]);
        let c = CounterSample::new_checked(&b, true).unwrap();
        assert_eq!(c.source_id_index(), 70000);
        assert!(CounterSample::new_checked(&b[..15], true).is_err());
        let b = words(&[1, 0, 3, 10, 2, 4, 259, 0]);
        let d = DiscardSample::new_checked(&b).unwrap();
        assert_eq!(
            (d.sequence_number(), d.source_id_index(), d.drops()),
            (1, 3, 10)
        );
        assert_eq!((d.input(), d.output(), d.reason()), (2, 4, 259));
        assert!(DiscardSample::new_checked(&b[..31]).is_err());
    }

    #[test]
    fn interface_words_round_trip() {
        for w in [0u32, 7, 0x3FFF_FFFF, 0x4000_0001, 0x8000_0007, 0xC000_0001] {
            assert_eq!(Interface::from_word(w).word(), w);
        }
        // Expanded values the compact word cannot hold are never read back as an ifIndex.
        for i in [
            Interface::from_parts(0, 1_285_816_721),
            Interface::from_parts(4, 5),
            Interface::from_parts(1, 0x4000_0000),
        ] {
            assert_eq!(i.word() >> 30, 3, "{i:?}");
        }
        assert_eq!(fold_source_id(1, 0x0100_0005), 0x0100_0005);
    }
}
