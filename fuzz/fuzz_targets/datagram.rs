//! Fuzz the datagram decoder: the receive walk (`decode_datagram`) against its oracle
//! (`decode_datagram_general`: the same visitor calls, in the same order), then the same
//! bytes through the `sflowtool -l` line formatter and the JSON Lines formatter, as
//! `flowsift decode` runs them. None may panic; the walk may not report more items than the
//! bytes can hold (one per 8-byte tag + length, plus a final error).
#![no_main]

use flowsift::decode_tool::{json, line};
use flowsift::record::SampleRecord;
use flowsift::sflow::{
    decode_datagram, decode_datagram_general, CounterSampleMeta, Datagram, DiscardSampleMeta,
    FlowSampleMeta, SampleError, SampleKind, Tag, Visitor,
};
use libfuzzer_sys::fuzz_target;

/// The decoder tests' record of every visitor call (the same comparison as
/// `tests/decode_walk.rs`).
#[path = "../../tests/packet_support/events.rs"]
mod events;
use events::Events;

#[derive(Default)]
struct Count(usize);

impl Visitor for Count {
    fn flow_sample(&mut self, _: &FlowSampleMeta, record: &SampleRecord) {
        self.0 += 1;
        std::hint::black_box(record);
    }
    fn counter_sample(&mut self, _: &CounterSampleMeta) {
        self.0 += 1;
    }
    fn discard_sample(&mut self, _: &DiscardSampleMeta) {
        self.0 += 1;
    }
    fn unknown_sample(&mut self, _: u32, _: Tag) {
        self.0 += 1;
    }
    fn unknown_record(&mut self, _: SampleKind, _: Tag) {
        self.0 += 1;
    }
    fn sample_error(&mut self, _: &SampleError) {
        self.0 += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut count = Count::default();
    let _ = decode_datagram(data, 0, &mut count);
    assert!(
        count.0 <= data.len() / 8 + 1,
        "{} reports for {} bytes",
        count.0,
        data.len()
    );
    let (mut walk, mut oracle) = (Events::default(), Events::default());
    let a = decode_datagram(data, 0, &mut walk);
    let b = decode_datagram_general(data, 0, &mut oracle);
    assert_eq!(a, b);
    assert_eq!(walk, oracle);

    if let Ok(d) = Datagram::new_checked(data) {
        let agent = d.header().agent;
        let mut out = String::new();
        for element in d.samples() {
            match element {
                Ok(sample) => {
                    let _ = line::sample_line(agent, &sample, &mut out);
                }
                Err(_) => break,
            }
        }
    }

    let mut out = String::new();
    let origin = json::Origin {
        file: "fuzz",
        packet: 1,
    };
    let _ = json::datagram_lines(origin, data, &mut out);
});
