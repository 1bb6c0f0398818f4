//! The compact per-sample record that crosses from a receive thread to a flow worker.
//!
//! Receive threads decode each datagram where it lands and hand workers these records, not
//! raw datagrams: the datagram buffer goes back to the kernel at once, and a worker touches
//! only the fields flow definitions can ask for. The record is plain `Copy` data.

use std::net::IpAddr;

use crate::packet::{Key, KeyValue, PacketKeys};

/// One flow sample, reduced to what flow definitions, filters and events need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRecord {
    /// Agent address from the datagram header.
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// Data source: the source-id type in the top 8 bits, the index in the low 24
    /// (the expanded sample's two words folded into this form).
    pub source_id: u32,
    /// Input and output interface words as sent (top two bits carry the format).
    pub input: u32,
    pub output: u32,
    pub sampling_rate: u32,
    /// Original length of the sampled frame, in bytes.
    pub frame_length: u32,
    /// When the datagram was received, in nanoseconds of the monotonic clock
    /// ([`crate::record::monotonic_nanos`]); used for the receipt-to-send latency histogram.
    pub received_ns: u64,
    pub keys: PacketKeys,
}

impl SampleRecord {
    /// The data source index (ifIndex for interface data sources), as sFlow-RT's `dataSource`.
    pub fn data_source(&self) -> u32 {
        self.source_id & 0x00FF_FFFF
    }

    /// Frames this sample stands for (sFlow-RT `frames`).
    pub fn frames(&self) -> u64 {
        u64::from(self.sampling_rate)
    }

    /// Bytes this sample stands for (sFlow-RT `bytes`).
    pub fn bytes(&self) -> u64 {
        u64::from(self.frame_length) * u64::from(self.sampling_rate)
    }

    /// The value of any flow key for this sample, or `None` when the sample lacks it.
    pub fn key(&self, key: Key) -> Option<KeyValue> {
        match key {
            Key::Agent => Some(KeyValue::Ip(self.agent)),
            Key::InputIfIndex => interface_index(self.input).map(KeyValue::Number),
            Key::OutputIfIndex => interface_index(self.output).map(KeyValue::Number),
            other => self.keys.get(other),
        }
    }
}

/// The ifIndex of an sFlow interface word, when it names a single interface
/// (format 0 and not the 0x3FFFFFFF "internal" value).
fn interface_index(word: u32) -> Option<u32> {
    let format = word >> 30;
    let value = word & 0x3FFF_FFFF;
    (format == 0 && value != 0x3FFF_FFFF).then_some(value)
}

/// Nanoseconds of `CLOCK_MONOTONIC`, the clock every `received_ns` is taken on.
pub fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_words() {
        assert_eq!(interface_index(7), Some(7));
        assert_eq!(interface_index(0x3FFF_FFFF), None);
        assert_eq!(interface_index(0x4000_0001), None);
        assert_eq!(interface_index(0x8000_0007), None);
    }
}

/// What travels through a ring: a sample and the flow definitions (bit i = definition i)
/// that the receiving worker must apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    pub record: SampleRecord,
    pub definitions: u64,
}

/// Chooses which workers must see a sample. The flow engine implements it; each receive
/// thread owns one and calls it for every flow sample, so it must not block or allocate.
pub trait Route: Send {
    /// Call `deliver(worker, definitions)` once for every worker that must see `record`,
    /// with the set of definitions it must apply. Calling it never means "drop the sample".
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, u64));
}
