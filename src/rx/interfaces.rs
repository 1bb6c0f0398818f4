//! Interface counters from counter samples, on their way from a receive thread to the
//! metrics endpoint.
//!
//! A counter sample's generic interface record (and the port-name record beside it) is
//! parsed on the receive thread, where the datagram lands, and handed over whole as one
//! [`InterfaceCounters`] through a bounded queue per thread: the receive thread never waits
//! and never allocates for it (a full queue drops the update and counts it; the interface's
//! next counter sample, typically seconds later, brings it up to date). The reader (the run
//! loop) keeps the latest counters per interface, bounded, for the scrapes.

use std::net::IpAddr;

use crate::sflow::{DecodeError, GenericInterface, Tag};

/// Longest interface name kept; longer names are cut on a character boundary.
pub const NAME_MAX: usize = 64;

/// An interface name (`ifName`, the port-name record) held inline: no allocation on the
/// receive thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortName {
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl PortName {
    /// The name as sent, cut to [`NAME_MAX`] bytes on a UTF-8 boundary (invalid UTF-8 is
    /// replaced when read).
    pub fn new(raw: &[u8]) -> PortName {
        let cut = raw.get(..raw.len().min(NAME_MAX)).unwrap_or(&[]);
        // The longest valid UTF-8 prefix: a cut inside a character, or invalid bytes, end it.
        let len = match std::str::from_utf8(cut) {
            Ok(_) => cut.len(),
            Err(e) => e.valid_up_to(),
        };
        let mut bytes = [0u8; NAME_MAX];
        if let (Some(dst), Some(src)) = (bytes.get_mut(..len), raw.get(..len)) {
            dst.copy_from_slice(src);
        }
        PortName {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        let raw = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        std::str::from_utf8(raw).unwrap_or("")
    }
}

/// The generic interface counters of one interface, as its agent last sent them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InterfaceCounters {
    pub agent: IpAddr,
    pub counters: GenericInterface,
    /// The port-name record of the same sample, when the agent sent one.
    pub name: Option<PortName>,
    /// The counter sample's sequence number and the datagram's agent uptime (ms): they
    /// order an interface's samples and give the time between them
    /// ([`crate::threshold::InterfaceMetrics`]).
    pub sequence: u32,
    pub uptime_ms: u32,
    /// Monotonic receipt time of the datagram.
    pub received_ns: u64,
}

/// Where a counter sample came from, beside its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SampleOrigin {
    pub agent: Option<IpAddr>,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub received_ns: u64,
}

/// The records of the counter sample being walked, until the sample's own call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PendingSample {
    generic: Option<GenericInterface>,
    name: Option<PortName>,
}

/// sFlow counter record formats (enterprise 0) read here.
const GENERIC_INTERFACE: Tag = Tag::new(0, 1);
const PORT_NAME: Tag = Tag::new(0, 1005);

impl PendingSample {
    /// Keep what a record says about the interface; a record too short for its fields is
    /// left out (the walk has already checked its envelope, and counts nothing else here).
    pub(crate) fn record(&mut self, tag: Tag, data: &[u8]) {
        if tag == GENERIC_INTERFACE {
            self.generic = GenericInterface::parse(data).ok();
        } else if tag == PORT_NAME {
            self.name = port_name(data).ok().map(PortName::new);
        }
    }

    /// The sample is complete: its interface counters, if it had a generic record. Leaves
    /// the pending state empty for the next sample.
    pub(crate) fn finish(&mut self, origin: SampleOrigin) -> Option<InterfaceCounters> {
        let done = std::mem::take(self);
        let agent = origin.agent?;
        done.generic.map(|counters| InterfaceCounters {
            agent,
            counters,
            name: done.name,
            sequence: origin.sequence,
            uptime_ms: origin.uptime_ms,
            received_ns: origin.received_ns,
        })
    }

    pub(crate) fn clear(&mut self) {
        *self = PendingSample::default();
    }
}

/// The opaque string of a port-name record.
fn port_name(data: &[u8]) -> Result<&[u8], DecodeError> {
    match crate::sflow::CounterRecord::parse(PORT_NAME, data)? {
        crate::sflow::CounterRecord::PortName { name } => Ok(name),
        _ => Ok(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_on_character_boundaries() {
        assert_eq!(PortName::new(b"eth0").as_str(), "eth0");
        let long = "é".repeat(40); // 80 bytes
        let n = PortName::new(long.as_bytes());
        assert_eq!(n.as_str(), "é".repeat(32));
        assert_eq!(PortName::new(&[0xFF, b'a']).as_str(), "");
        assert_eq!(PortName::new(b"ok\xFFrest").as_str(), "ok");
    }

    #[test]
    fn a_sample_gives_its_generic_counters_and_name() {
        let mut p = PendingSample::default();
        let agent = SampleOrigin {
            agent: Some("192.0.2.1".parse().unwrap()),
            ..SampleOrigin::default()
        };
        assert!(p.finish(agent).is_none());
        let mut generic = vec![0u8; 88];
        generic[3] = 7; // ifIndex 7
        p.record(GENERIC_INTERFACE, &generic);
        p.record(PORT_NAME, &[0, 0, 0, 4, b'e', b't', b'h', b'7']);
        let ic = p.finish(agent).unwrap();
        assert_eq!(ic.counters.if_index, 7);
        assert_eq!(ic.name.unwrap().as_str(), "eth7");
        assert!(p.finish(agent).is_none(), "state cleared");
        // A short generic record is left out.
        p.record(GENERIC_INTERFACE, &generic[..40]);
        assert!(p.finish(agent).is_none());
    }
}
