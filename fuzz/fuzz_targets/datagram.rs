//! Fuzz the datagram decoder: the receive walk (`decode_datagram`) against its oracle
//! (`decode_datagram_general`: the same visitor calls, in the same order), then the same
//! bytes through the `sflowtool -l` line formatter and the JSON Lines formatter, as
//! `flowsift decode` runs them. None may panic; the walk may not report more items than the
//! bytes can hold (one per 8-byte tag + length, plus a final error).
#![no_main]

use flowsift::decode_tool::{json, line};
use flowsift::record::SampleRecord;
use flowsift::sflow::{
    decode_datagram, decode_datagram_general, CounterSampleMeta, Datagram, DatagramHeader,
    DiscardSampleMeta, FlowSampleMeta, SampleError, SampleKind, Tag, Visitor,
};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Count(usize);

/// Every visitor call, in order, compared by value.
#[derive(Default, PartialEq, Debug)]
struct Log(Vec<Event>);

#[derive(PartialEq, Debug)]
enum Event {
    Datagram(DatagramHeader),
    Flow(FlowSampleMeta, Box<SampleRecord>),
    CounterRecord(Tag, usize),
    Counter(CounterSampleMeta),
    Discard(DiscardSampleMeta),
    UnknownSample(u32, Tag),
    UnknownRecord(SampleKind, Tag),
    Error(SampleError),
}

impl Visitor for Log {
    fn datagram(&mut self, header: &DatagramHeader) {
        self.0.push(Event::Datagram(*header));
    }
    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.0.push(Event::Flow(*meta, Box::new(*record)));
    }
    fn counter_record(&mut self, tag: Tag, data: &[u8]) {
        self.0.push(Event::CounterRecord(tag, data.len()));
    }
    fn counter_sample(&mut self, meta: &CounterSampleMeta) {
        self.0.push(Event::Counter(*meta));
    }
    fn discard_sample(&mut self, meta: &DiscardSampleMeta) {
        self.0.push(Event::Discard(*meta));
    }
    fn unknown_sample(&mut self, index: u32, tag: Tag) {
        self.0.push(Event::UnknownSample(index, tag));
    }
    fn unknown_record(&mut self, sample: SampleKind, tag: Tag) {
        self.0.push(Event::UnknownRecord(sample, tag));
    }
    fn sample_error(&mut self, error: &SampleError) {
        self.0.push(Event::Error(*error));
    }
}

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
    let (mut walk, mut oracle) = (Log::default(), Log::default());
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
