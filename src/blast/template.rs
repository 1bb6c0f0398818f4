//! Pre-encoded flow datagrams and the numbering patched into them: every flow datagram of a
//! blast has one layout, so it is encoded once per thread and only its numbers (sequence,
//! uptime, agent, data source, pool, drops) are written per send.

use std::net::IpAddr;

use crate::synth::{header_protocol, DatagramBuilder, FlowSampleHeader, RecordSpec};

use super::mix::SampledFrame;
use super::BlastArgs;

/// Byte offsets inside a pre-encoded flow datagram, for patching.
pub(super) struct Layout {
    /// Datagram header: sequence and uptime words.
    pub(super) seq_at: usize,
    pub(super) uptime_at: usize,
    pub(super) agent_at: usize,
    pub(super) agent_len: usize,
    /// Start of sample 0 and the size of each sample.
    pub(super) first_sample: usize,
    pub(super) sample_len: usize,
    pub(super) len: usize,
}

/// Offsets inside a compact flow sample, from its tag (its envelope, then its fixed part).
mod at {
    use crate::sflow::layout::{element, flow_sample};
    pub const SEQUENCE: usize = element::LEN + flow_sample::SEQUENCE;
    pub const SOURCE: usize = element::LEN + flow_sample::SOURCE_ID;
    pub const POOL: usize = element::LEN + flow_sample::SAMPLE_POOL;
    pub const DROPS: usize = element::LEN + flow_sample::DROPS;
    pub const INPUT: usize = element::LEN + flow_sample::INPUT;
    pub const OUTPUT: usize = element::LEN + flow_sample::OUTPUT;
}

/// Pre-encoded datagrams with placeholder numbers, all of one layout.
pub(super) fn templates(
    a: &BlastArgs,
    agent: IpAddr,
    frames: &[SampledFrame],
    n: usize,
) -> (Vec<Vec<u8>>, Layout) {
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    for _ in 0..n {
        let mut b = DatagramBuilder::new(agent, 0, 0, 0);
        for _ in 0..a.samples {
            let f = &frames[k % frames.len()];
            k += 1;
            let h = FlowSampleHeader {
                sampling_rate: a.sampling_rate,
                ..FlowSampleHeader::default()
            };
            let header = RecordSpec::SampledHeader {
                protocol: header_protocol::ETHERNET,
                frame_length: f.frame_length,
                stripped: 4,
                header: &f.header,
            };
            if a.switch_records {
                let vlan = 100 + (k % 8) as u32;
                b.flow_sample(
                    &h,
                    &[
                        header,
                        RecordSpec::ExtendedSwitch {
                            src_vlan: vlan,
                            src_priority: 0,
                            dst_vlan: vlan,
                            dst_priority: 0,
                        },
                    ],
                );
            } else {
                b.flow_sample(&h, &[header]);
            }
        }
        out.push(b.finish());
    }
    use crate::sflow::layout::datagram as dg;
    let agent_len = if agent.is_ipv4() {
        dg::IPV4_LEN
    } else {
        dg::IPV6_LEN
    };
    let tail_at = dg::ADDRESS + agent_len;
    let header_len = tail_at + dg::TAIL_LEN;
    let len = out.first().map_or(header_len, Vec::len);
    let sample_len = (len - header_len) / a.samples.max(1) as usize;
    let layout = Layout {
        agent_at: dg::ADDRESS,
        agent_len,
        seq_at: tail_at + dg::SEQUENCE,
        uptime_at: tail_at + dg::UPTIME,
        first_sample: header_len,
        sample_len,
        len,
    };
    (out, layout)
}

fn put(buf: &mut [u8], at: usize, v: u32) {
    if let Some(w) = buf.get_mut(at..at + 4) {
        w.copy_from_slice(&v.to_be_bytes());
    }
}

/// The numbering state of one simulated switch.
pub(super) struct Stream {
    pub(super) addr: IpAddr,
    pub(super) sequence: u32,
    /// Per interface: last sample sequence number and sample pool.
    pub(super) sample_seq: Vec<u32>,
    pub(super) pool: Vec<u32>,
    pub(super) counter_seq: Vec<u32>,
    pub(super) next_interface: u32,
    pub(super) template: usize,
}

impl Stream {
    pub(super) fn new(addr: IpAddr, interfaces: u32, template: usize) -> Stream {
        Stream {
            addr,
            sequence: 0,
            sample_seq: vec![0; interfaces as usize],
            pool: vec![0; interfaces as usize],
            counter_seq: vec![0; interfaces as usize],
            next_interface: 0,
            template,
        }
    }

    /// Write this switch's next flow datagram into `d` (exactly `layout.len` bytes).
    pub(super) fn next_flow_datagram(
        &mut self,
        a: &BlastArgs,
        templates: &[Vec<u8>],
        layout: &Layout,
        uptime: u32,
        d: &mut [u8],
    ) {
        let interfaces = self.sample_seq.len() as u32;
        let tpl = &templates[self.template % templates.len()];
        self.template = self.template.wrapping_add(1);
        d.copy_from_slice(&tpl[..layout.len]);
        self.sequence = self.sequence.wrapping_add(1);
        match self.addr {
            IpAddr::V4(x) if layout.agent_len == 4 => {
                d[layout.agent_at..layout.agent_at + 4].copy_from_slice(&x.octets())
            }
            IpAddr::V6(x) if layout.agent_len == 16 => {
                d[layout.agent_at..layout.agent_at + 16].copy_from_slice(&x.octets())
            }
            _ => {}
        }
        put(d, layout.seq_at, self.sequence);
        put(d, layout.uptime_at, uptime);
        for s in 0..a.samples as usize {
            let i = self.next_interface as usize;
            self.next_interface = (self.next_interface + 1) % interfaces;
            self.sample_seq[i] = self.sample_seq[i].wrapping_add(1);
            self.pool[i] = self.pool[i].wrapping_add(a.sampling_rate);
            let base = layout.first_sample + s * layout.sample_len;
            put(d, base + at::SEQUENCE, self.sample_seq[i]);
            put(d, base + at::SOURCE, i as u32 + 1);
            put(d, base + at::POOL, self.pool[i]);
            put(d, base + at::DROPS, 0);
            put(d, base + at::INPUT, i as u32 + 1);
            put(d, base + at::OUTPUT, ((i as u32 + 1) % interfaces) + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sflow::{decode_datagram, FlowSampleMeta, Visitor};
    use crate::synth::Rng;

    use super::super::mix::mix_frame;

    #[derive(Default)]
    struct Count {
        flows: u64,
        unreachable: u64,
        bad: u64,
    }
    impl Visitor for Count {
        fn flow_sample(&mut self, _m: &FlowSampleMeta, r: &crate::record::SampleRecord) {
            self.flows += 1;
            if r.keys.unreachable().is_some() {
                self.unreachable += 1;
            }
        }
        fn sample_error(&mut self, _e: &crate::sflow::SampleError) {
            self.bad += 1;
        }
    }

    #[test]
    fn templates_decode_with_the_mix() {
        let mut a = BlastArgs::to("127.0.0.1:6343".parse().unwrap());
        a.unreachable = 0.5;
        let mut rng = Rng(7);
        let frames: Vec<SampledFrame> = (0..64).map(|_| mix_frame(&a, &mut rng)).collect();
        let (t, layout) = templates(&a, "10.0.0.1".parse().unwrap(), &frames, 8);
        assert!(t.iter().all(|d| d.len() == layout.len));
        assert_eq!(layout.len, 28 + 7 * (8 + 32 + 8 + 16 + 128));
        let mut c = Count::default();
        for d in &t {
            decode_datagram(d, 0, &mut c).unwrap();
        }
        assert_eq!(c.flows, 56);
        assert_eq!(c.bad, 0);
        assert!(c.unreachable > 5, "{} unreachable answers", c.unreachable);
    }
}
