//! Every visitor call, in order, compared by value: what the receive walk and its oracle
//! must agree on. Shared by `tests/decode_walk.rs` (through `packet_support`) and the
//! cargo-fuzz `datagram` target (through `#[path]`), so that it uses nothing but `flowsift`.

use flowsift::record::SampleRecord;
use flowsift::sflow::{
    CounterSampleMeta, DatagramHeader, DiscardSampleMeta, FlowSampleMeta, SampleError, SampleKind,
    Tag, Visitor,
};

/// Everything a visitor is told, in order (records compared by value: every accessor).
#[derive(Default, PartialEq, Debug)]
pub struct Events(pub Vec<Event>);

#[derive(PartialEq, Debug)]
pub enum Event {
    Datagram(DatagramHeader),
    Flow(FlowSampleMeta, Box<SampleRecord>),
    CounterRecord(Tag, usize),
    Counter(CounterSampleMeta),
    Discard(DiscardSampleMeta),
    UnknownSample(u32, Tag),
    UnknownRecord(SampleKind, Tag),
    Error(SampleError),
}

impl Visitor for Events {
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
