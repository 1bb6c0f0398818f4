//! The walk's unit tests: every sample kind, every truncation, a bad header.

use std::net::IpAddr;

use super::*;
use crate::sflow::Structure;

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn element(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut v = words(&[tag, body.len() as u32]);
    v.extend_from_slice(body);
    v
}

#[derive(Default)]
struct Log {
    headers: Vec<DatagramHeader>,
    flows: Vec<(FlowSampleMeta, SampleRecord)>,
    counters: Vec<CounterSampleMeta>,
    discards: Vec<DiscardSampleMeta>,
    unknown_samples: Vec<(u32, Tag)>,
    unknown_records: Vec<(SampleKind, Tag)>,
    errors: Vec<SampleError>,
}

impl Visitor for Log {
    fn datagram(&mut self, header: &DatagramHeader) {
        self.headers.push(*header);
    }
    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.flows.push((*meta, *record));
    }
    fn counter_sample(&mut self, meta: &CounterSampleMeta) {
        self.counters.push(*meta);
    }
    fn discard_sample(&mut self, meta: &DiscardSampleMeta) {
        self.discards.push(*meta);
    }
    fn unknown_sample(&mut self, index: u32, tag: Tag) {
        self.unknown_samples.push((index, tag));
    }
    fn unknown_record(&mut self, sample: SampleKind, tag: Tag) {
        self.unknown_records.push((sample, tag));
    }
    fn sample_error(&mut self, error: &SampleError) {
        self.errors.push(*error);
    }
}

/// A datagram with every kind of sample: flow (sampled header + an unknown vendor
/// record), counters, an unknown sample type, a flow sample too short for its fixed
/// part, an expanded flow sample with only a sampled-IPv4 record, and a discard sample.
fn datagram() -> Vec<u8> {
    let mut d = words(&[5, 1, 0xC0A8_0001, 3, 77, 123_456, 6]);
    // flow sample: seq 10, source 0:5, rate 1000, pool 9000, drops 2, in 5, out 7
    let mut flow = words(&[10, 5, 1000, 9000, 2, 5, 7, 2]);
    let mut hdr = words(&[1, 1518, 4, 8]);
    hdr.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    flow.extend(element(1, &hdr));
    flow.extend(element((4413 << 12) | 9, &[0; 4]));
    d.extend(element(1, &flow));
    // counter sample with a generic record body of 0 bytes (not parsed on this path)
    let mut cs = words(&[4, (1 << 24) | 9, 1]);
    cs.extend(element(2203, &[]));
    d.extend(element(2, &cs));
    // unknown sample type
    d.extend(element((9 << 12) | 1, &[0; 8]));
    // flow sample with only 8 bytes: a per-sample error, the walk goes on
    d.extend(element(1, &[0; 8]));
    // expanded flow sample, source 0:70000, sampled IPv4 record only
    let mut xf = words(&[11, 0, 70_000, 400, 800, 0, 0, 3, 0, 0x3FFF_FFFF, 1]);
    xf.extend(element(
        3,
        &words(&[60, 17, 0x0A00_0001, 0x0A00_0002, 5353, 53, 0, 0]),
    ));
    d.extend(element(3, &xf));
    // discard sample: reason 259, no records
    d.extend(element(5, &words(&[1, 0, 3, 0, 2, 4, 259, 0])));
    d
}

#[test]
fn every_sample_kind_reaches_the_visitor() {
    let d = datagram();
    let mut log = Log::default();
    let h = decode_datagram(&d, 42, &mut log).unwrap();
    assert_eq!(h.agent, "192.168.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(
        (h.sub_agent, h.sequence, h.uptime_ms, h.sample_count),
        (3, 77, 123_456, 6)
    );
    assert_eq!(log.headers, vec![h]);

    assert_eq!(log.flows.len(), 2);
    let (m, r) = log.flows[0];
    assert_eq!(
        (m.index, m.sequence, m.sample_pool, m.drops),
        (0, 10, 9000, 2)
    );
    assert_eq!(m.header_protocol, Some(1));
    assert_eq!((r.source_index(), r.input(), r.output()), (5, 5, 7));
    assert_eq!(
        (r.sampling_rate(), r.frame_length(), r.received_ns),
        (1000, 1518, 42)
    );
    assert_eq!(r.agent, h.agent);
    assert_eq!(r.sub_agent, 3);

    let (m, r) = log.flows[1];
    assert!(m.expanded);
    assert_eq!((m.index, m.source_id_index), (4, 70_000));
    assert_eq!(r.source_index(), 70_000);
    assert_eq!(m.output, Interface::Internal);
    assert_eq!((r.output_format(), r.output()), (0, 0x3FFF_FFFF));
    assert_eq!(r.frame_length(), 60);
    assert_eq!(r.keys.udp_destination_port(), Some(53));
    assert_eq!(r.keys.ip_source(), Some("10.0.0.1".parse().unwrap()));
    assert_eq!(m.header_protocol, None);

    assert_eq!(log.counters.len(), 1);
    assert_eq!(
        (
            log.counters[0].source_id_type,
            log.counters[0].source_id_index
        ),
        (1, 9)
    );
    assert_eq!(log.discards.len(), 1);
    assert_eq!(log.discards[0].reason, 259);
    assert_eq!(log.discards[0].keys, None);
    assert_eq!(log.unknown_samples, vec![(2, Tag::new(9, 1))]);
    assert_eq!(
        log.unknown_records,
        vec![
            (SampleKind::Flow, Tag::new(4413, 9)),
            (SampleKind::Counters, Tag::new(0, 2203))
        ]
    );
    assert_eq!(log.errors.len(), 1);
    assert_eq!(log.errors[0].index, 3);
    assert!(matches!(
        log.errors[0].error,
        DecodeError::Truncated {
            what: Structure::FlowSample,
            ..
        }
    ));
}

#[test]
fn every_truncation_is_an_error_or_partial_never_a_panic() {
    let d = datagram();
    for len in 0..d.len() {
        let mut log = Log::default();
        match decode_datagram(&d[..len], 0, &mut log) {
            Ok(_) => {
                assert!(len >= 28);
                // Six samples are declared and at least the last is cut or missing: the
                // walk says so, for the sample where it stopped, and never reports more
                // samples than there are.
                assert!(!log.errors.is_empty(), "cut at {len}: no error reported");
                let delivered = log.flows.len()
                    + log.counters.len()
                    + log.discards.len()
                    + log.unknown_samples.len();
                assert!(delivered + log.errors.len() <= 6, "cut at {len}");
                let last = log.errors.last().map(|e| e.index);
                assert!(last >= Some(delivered as u32), "cut at {len}: {last:?}");
                assert!(log.errors.iter().all(|e| matches!(
                    e.error,
                    DecodeError::Truncated { .. }
                        | DecodeError::LengthOverrun { .. }
                        | DecodeError::CountOverrun { .. }
                )));
            }
            Err(_) => assert!(log.headers.is_empty() && log.errors.is_empty()),
        }
    }
}

#[test]
fn bad_header_reports_nothing() {
    let mut log = Log::default();
    assert_eq!(
        decode_datagram(&words(&[4, 1, 0, 0, 0, 0, 0]), 0, &mut log),
        Err(DecodeError::UnsupportedVersion(4))
    );
    assert!(log.headers.is_empty());
}
