//! Typed decode errors. Bad input never panics and never allocates: it ends up as one of
//! these values, naming the structure that was being read.

use std::fmt;

use super::Tag;

/// Which sFlow structure a decode error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Structure {
    Datagram,
    /// The (tag, length) envelope of a sample.
    Sample,
    FlowSample,
    CounterSample,
    DiscardSample,
    /// The (tag, length) envelope of a flow or counter record, or a record's body.
    Record,
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Structure::Datagram => "datagram",
            Structure::Sample => "sample",
            Structure::FlowSample => "flow sample",
            Structure::CounterSample => "counter sample",
            Structure::DiscardSample => "discard sample",
            Structure::Record => "record",
        })
    }
}

/// Why a datagram, sample or record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The structure needs `needed` bytes but only `available` are there.
    Truncated {
        what: Structure,
        needed: usize,
        available: usize,
    },
    /// The datagram is not sFlow version 5.
    UnsupportedVersion(u32),
    /// An address type other than 0 (unknown), 1 (IPv4) or 2 (IPv6).
    UnknownAddressType(u32),
    /// A sample or record declares a length beyond the bytes its container has left.
    LengthOverrun {
        what: Structure,
        declared: u32,
        available: usize,
    },
    /// Fewer samples or records than declared fit in the container.
    CountOverrun {
        what: Structure,
        declared: u32,
        found: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated {
                what,
                needed,
                available,
            } => write!(f, "{what} truncated: needs {needed} bytes, has {available}"),
            DecodeError::UnsupportedVersion(v) => write!(f, "not sFlow v5 (version {v})"),
            DecodeError::UnknownAddressType(t) => write!(f, "unknown address type {t}"),
            DecodeError::LengthOverrun {
                what,
                declared,
                available,
            } => write!(
                f,
                "{what} length {declared} overruns its container ({available} bytes left)"
            ),
            DecodeError::CountOverrun {
                what,
                declared,
                found,
            } => write!(f, "{declared} {what}s declared, only {found} present"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A sample that could not be (fully) decoded: the datagram walk reports it and goes on
/// with the next sample whenever the sample's own length allowed skipping it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleError {
    /// Position of the sample in the datagram (0-based).
    pub index: u32,
    /// The sample's tag, when its envelope could be read.
    pub tag: Option<Tag>,
    pub error: DecodeError,
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag {
            Some(tag) => write!(f, "sample {} ({tag}): {}", self.index, self.error),
            None => write!(f, "sample {}: {}", self.index, self.error),
        }
    }
}

impl std::error::Error for SampleError {}
