//! The one collecting visitor of the decoder tests: everything the receive walk delivers,
//! kept in order per kind.

use flowsift::record::SampleRecord;
use flowsift::sflow::{CounterSampleMeta, DiscardSampleMeta, FlowSampleMeta, SampleError, Visitor};

/// What a visitor was told: each flow sample with its record, each counter and discard
/// sample, each sample error.
#[derive(Default)]
pub struct Collected {
    pub flows: Vec<(FlowSampleMeta, SampleRecord)>,
    pub counters: Vec<CounterSampleMeta>,
    pub discards: Vec<DiscardSampleMeta>,
    pub errors: Vec<SampleError>,
}

impl Collected {
    /// The flow samples' records, in order.
    pub fn records(&self) -> Vec<SampleRecord> {
        self.flows.iter().map(|(_, r)| *r).collect()
    }
}

impl Visitor for Collected {
    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.flows.push((*meta, *record));
    }
    fn counter_sample(&mut self, meta: &CounterSampleMeta) {
        self.counters.push(*meta);
    }
    fn discard_sample(&mut self, meta: &DiscardSampleMeta) {
        self.discards.push(*meta);
    }
    fn sample_error(&mut self, error: &SampleError) {
        self.errors.push(*error);
    }
}
