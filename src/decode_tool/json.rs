//! `decode --format json`: one JSON object per sample (JSON Lines), with the datagram fields,
//! the sample fields, every record, and the flow keys under their sFlow-RT names.
//!
//! This is a tool's output path, not the receive path: it builds `serde_json` values, which
//! allocate. The keys come from the same [`crate::sflow::decode_datagram`] walk the collector uses
//! (so `decode` shows exactly what flow definitions would see); everything else comes from
//! the typed views. The schema is documented in docs/decoder.md.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::packet::Key;
use crate::record::SampleRecord;

use crate::sflow::{
    decode_datagram, CounterRecord, CounterSample, CounterValue, Datagram, DatagramHeader,
    DecodeError, DiscardSample, DiscardSampleMeta, Element, Elements, FlowRecord, FlowSample,
    FlowSampleMeta, Interface, SampleError, SampleKind, SampledEthernet, SampledIp, Tag, Visitor,
};

/// Where a datagram came from, repeated in every object.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub file: &'a str,
    /// Packet number in the capture (1-based), or 1 for a raw file.
    pub packet: u64,
}

/// Collects the per-sample flow keys of the fast path, by sample index.
#[derive(Default)]
struct Keys {
    flows: Vec<(u32, SampleRecord)>,
    discards: Vec<(u32, SampleRecord)>,
}

impl Visitor for Keys {
    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.flows.push((meta.index, *record));
    }
    fn discard_sample(&mut self, meta: &DiscardSampleMeta) {
        if let Some(keys) = meta.keys {
            // A discard has no sampling rate or frame length; only the keys matter here.
            let record = SampleRecord::default()
                .with_input(0, meta.input)
                .with_output(0, meta.output)
                .with_keys(keys);
            self.discards.push((meta.index, record));
        }
    }
}

/// Append one JSON line per sample of `datagram`. Samples that fail to decode produce no
/// line; their errors are returned (in sample order) for the caller to report. A datagram
/// whose header is unusable returns that error and appends nothing.
pub fn datagram_lines(
    origin: Origin<'_>,
    bytes: &[u8],
    out: &mut String,
) -> Result<Vec<SampleError>, DecodeError> {
    let datagram = Datagram::new_checked(bytes)?;
    let header = datagram.header();
    let mut keys = Keys::default();
    decode_datagram(bytes, 0, &mut keys)?;
    let mut errors = Vec::new();
    let mut next_index = 0;
    for element in datagram.samples() {
        let sample = match element {
            Ok(s) => s,
            Err(error) => {
                errors.push(SampleError {
                    index: next_index,
                    tag: None,
                    error,
                });
                break;
            }
        };
        next_index = sample.index + 1;
        match sample_json(&header, &sample, &keys) {
            Ok(sample_value) => {
                let mut object = Map::new();
                object.insert("file".into(), json!(origin.file));
                object.insert("packet".into(), json!(origin.packet));
                object.insert("datagram".into(), datagram_json(&header));
                for (k, v) in sample_value {
                    object.insert(k, v);
                }
                out.push_str(&Value::Object(object).to_string());
                out.push('\n');
            }
            Err(error) => errors.push(SampleError {
                index: sample.index,
                tag: Some(sample.tag),
                error,
            }),
        }
    }
    Ok(errors)
}

fn datagram_json(h: &DatagramHeader) -> Value {
    json!({
        "version": 5,
        "agent": h.agent.to_string(),
        "sub_agent": h.sub_agent,
        "sequence": h.sequence,
        "uptime_ms": h.uptime_ms,
        "sample_count": h.sample_count,
    })
}

fn interface(i: Interface) -> Value {
    json!({ "format": i.format(), "value": i.value() })
}

/// The `sample`, `records` and `keys` members for one sample.
fn sample_json(
    header: &DatagramHeader,
    sample: &Element<'_>,
    keys: &Keys,
) -> Result<Map<String, Value>, DecodeError> {
    let mut m = Map::new();
    let mut s = Map::new();
    s.insert("index".into(), json!(sample.index));
    s.insert("enterprise".into(), json!(sample.tag.enterprise()));
    s.insert("format".into(), json!(sample.tag.format()));
    s.insert("length".into(), json!(sample.data.len()));
    let sample_keys = |list: &[(u32, SampleRecord)]| {
        list.iter()
            .find(|(i, _)| *i == sample.index)
            .map(|(_, r)| keys_json(r, header.agent))
    };
    match SampleKind::of(sample.tag) {
        Some((SampleKind::Flow, expanded)) => {
            let f = FlowSample::new_checked(sample.data, expanded)?;
            s.insert(
                "type".into(),
                json!(if expanded { "expanded_flow" } else { "flow" }),
            );
            s.insert("sequence".into(), json!(f.sequence_number()));
            s.insert("source_id_type".into(), json!(f.source_id_type()));
            s.insert("source_id_index".into(), json!(f.source_id_index()));
            s.insert("sampling_rate".into(), json!(f.sampling_rate()));
            s.insert("sample_pool".into(), json!(f.sample_pool()));
            s.insert("drops".into(), json!(f.drops()));
            s.insert("input".into(), interface(f.input()));
            s.insert("output".into(), interface(f.output()));
            s.insert("record_count".into(), json!(f.record_count()));
            m.insert("records".into(), flow_records(f.records())?);
            if let Some(k) = sample_keys(&keys.flows) {
                m.insert("keys".into(), k);
            }
            if let Some((_, r)) = keys.flows.iter().find(|(i, _)| *i == sample.index) {
                if r.keys.depth() > 0 || r.keys.tunnel().is_some() {
                    m.insert("tunnels".into(), tunnels_json(r));
                }
            }
        }
        Some((SampleKind::Counters, expanded)) => {
            let c = CounterSample::new_checked(sample.data, expanded)?;
            s.insert(
                "type".into(),
                json!(if expanded {
                    "expanded_counters"
                } else {
                    "counters"
                }),
            );
            s.insert("sequence".into(), json!(c.sequence_number()));
            s.insert("source_id_type".into(), json!(c.source_id_type()));
            s.insert("source_id_index".into(), json!(c.source_id_index()));
            s.insert("record_count".into(), json!(c.record_count()));
            m.insert("records".into(), counter_records(c.records())?);
        }
        Some((SampleKind::Discard, _)) => {
            let d = DiscardSample::new_checked(sample.data)?;
            s.insert("type".into(), json!("discard"));
            s.insert("sequence".into(), json!(d.sequence_number()));
            s.insert("source_id_type".into(), json!(d.source_id_type()));
            s.insert("source_id_index".into(), json!(d.source_id_index()));
            s.insert("drops".into(), json!(d.drops()));
            s.insert("input".into(), json!(d.input()));
            s.insert("output".into(), json!(d.output()));
            s.insert("reason".into(), json!(d.reason()));
            s.insert("record_count".into(), json!(d.record_count()));
            m.insert("records".into(), flow_records(d.records())?);
            if let Some(k) = sample_keys(&keys.discards) {
                m.insert("keys".into(), k);
            }
        }
        None => {
            s.insert("type".into(), json!("unknown"));
            s.insert("data".into(), json!(hex(sample.data)));
        }
    }
    m.insert("sample".into(), Value::Object(s));
    Ok(m)
}

/// The tunnels a sample's header went through, outermost first: type, VNI or GRE key, the
/// carrying header's addresses (the tunnel's endpoints), and the level its contents'
/// keys are at (`null` when too deep to walk).
fn tunnels_json(record: &SampleRecord) -> Value {
    let mut list = Vec::new();
    for (level, (kind, keys, walked)) in record.tunnels().enumerate() {
        let mut t = Map::new();
        t.insert("type".into(), json!(kind.name()));
        for id in [Key::VxlanVni, Key::GeneveVni, Key::GreKey] {
            if let Some(crate::packet::KeyValue::Number(v)) = keys.get(id) {
                let name = if id == Key::GreKey { "key" } else { "vni" };
                t.insert(name.into(), json!(v));
            }
        }
        t.insert("source".into(), ip_or_null(keys.ip_source()));
        t.insert("destination".into(), ip_or_null(keys.ip_destination()));
        t.insert(
            "inner_level".into(),
            if walked {
                json!(level + 1)
            } else {
                Value::Null
            },
        );
        list.push(Value::Object(t));
    }
    Value::Array(list)
}

/// Every key the sample has, by sFlow-RT name, in its sFlow-RT text form: the outermost
/// header's under the plain names, each tunnel level's under the `.N` names.
fn keys_json(record: &SampleRecord, agent: IpAddr) -> Value {
    let mut k = Map::new();
    for key in Key::every() {
        let value = match key {
            Key::Agent => Some(crate::packet::KeyValue::Ip(agent)),
            _ => record.key(key),
        };
        if let Some(v) = value {
            k.insert(key.name().into(), json!(v.to_string()));
        }
    }
    Value::Object(k)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ip_or_null(a: Option<IpAddr>) -> Value {
    a.map_or(Value::Null, |a| json!(a.to_string()))
}

fn record_header(tag: Tag, type_name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("enterprise".into(), json!(tag.enterprise()));
    m.insert("format".into(), json!(tag.format()));
    m.insert("type".into(), json!(type_name));
    m
}

fn ethernet_fields(m: &mut Map<String, Value>, e: &SampledEthernet) {
    m.insert("length".into(), json!(e.length));
    m.insert("src_mac".into(), json!(mac(e.src_mac)));
    m.insert("dst_mac".into(), json!(mac(e.dst_mac)));
    m.insert("eth_type".into(), json!(e.eth_type));
}

fn ip_fields(m: &mut Map<String, Value>, ip: &SampledIp, v6: bool) {
    m.insert("length".into(), json!(ip.length));
    m.insert("protocol".into(), json!(ip.protocol));
    m.insert("src_ip".into(), json!(ip.src.to_string()));
    m.insert("dst_ip".into(), json!(ip.dst.to_string()));
    m.insert("src_port".into(), json!(ip.src_port));
    m.insert("dst_port".into(), json!(ip.dst_port));
    m.insert("tcp_flags".into(), json!(ip.tcp_flags));
    m.insert((if v6 { "priority" } else { "tos" }).into(), json!(ip.tos));
}

fn flow_records(records: Elements<'_>) -> Result<Value, DecodeError> {
    let mut list = Vec::new();
    for element in records {
        let element = element?;
        list.push(flow_record(
            element.tag,
            &FlowRecord::parse(element.tag, element.data)?,
        ));
    }
    Ok(Value::Array(list))
}

fn flow_record(tag: Tag, record: &FlowRecord<'_>) -> Value {
    let name = match record {
        FlowRecord::SampledHeader(_) => "sampled_header",
        FlowRecord::SampledEthernet(_) => "sampled_ethernet",
        FlowRecord::SampledIpv4(_) => "sampled_ipv4",
        FlowRecord::SampledIpv6(_) => "sampled_ipv6",
        FlowRecord::ExtendedSwitch(_) => "extended_switch",
        FlowRecord::ExtendedRouter(_) => "extended_router",
        FlowRecord::ExtendedGateway(_) => "extended_gateway",
        FlowRecord::ExtendedUser(_) => "extended_user",
        FlowRecord::ExtendedUrl(_) => "extended_url",
        FlowRecord::ExtendedL2TunnelEgress(_) => "extended_l2_tunnel_egress",
        FlowRecord::ExtendedL2TunnelIngress(_) => "extended_l2_tunnel_ingress",
        FlowRecord::ExtendedIpv4TunnelEgress(_) => "extended_ipv4_tunnel_egress",
        FlowRecord::ExtendedIpv4TunnelIngress(_) => "extended_ipv4_tunnel_ingress",
        FlowRecord::ExtendedIpv6TunnelEgress(_) => "extended_ipv6_tunnel_egress",
        FlowRecord::ExtendedIpv6TunnelIngress(_) => "extended_ipv6_tunnel_ingress",
        FlowRecord::ExtendedDecapEgress { .. } => "extended_decap_egress",
        FlowRecord::ExtendedDecapIngress { .. } => "extended_decap_ingress",
        FlowRecord::ExtendedVniEgress { .. } => "extended_vni_egress",
        FlowRecord::ExtendedVniIngress { .. } => "extended_vni_ingress",
        FlowRecord::EgressQueue { .. } => "egress_queue",
        FlowRecord::ExtendedAcl(_) => "extended_acl",
        FlowRecord::ExtendedFunction { .. } => "extended_function",
        FlowRecord::ExtendedTransit { .. } => "extended_transit",
        FlowRecord::ExtendedQueue { .. } => "extended_queue",
        FlowRecord::ExtendedHwTrap(_) => "extended_hw_trap",
        FlowRecord::ExtendedLinuxDropReason { .. } => "extended_linux_drop_reason",
        FlowRecord::ExtendedSocketIpv4(_) => "extended_socket_ipv4",
        FlowRecord::ExtendedSocketIpv6(_) => "extended_socket_ipv6",
        FlowRecord::Unknown { .. } => "unknown",
    };
    let mut m = record_header(tag, name);
    match *record {
        FlowRecord::SampledHeader(h) => {
            m.insert("header_protocol".into(), json!(h.header_protocol()));
            m.insert("frame_length".into(), json!(h.frame_length()));
            m.insert("stripped".into(), json!(h.stripped()));
            m.insert("header_length".into(), json!(h.header_length()));
            m.insert("header".into(), json!(hex(h.header())));
        }
        FlowRecord::SampledEthernet(e)
        | FlowRecord::ExtendedL2TunnelEgress(e)
        | FlowRecord::ExtendedL2TunnelIngress(e) => ethernet_fields(&mut m, &e),
        FlowRecord::SampledIpv4(ip)
        | FlowRecord::ExtendedIpv4TunnelEgress(ip)
        | FlowRecord::ExtendedIpv4TunnelIngress(ip) => ip_fields(&mut m, &ip, false),
        FlowRecord::SampledIpv6(ip)
        | FlowRecord::ExtendedIpv6TunnelEgress(ip)
        | FlowRecord::ExtendedIpv6TunnelIngress(ip) => ip_fields(&mut m, &ip, true),
        FlowRecord::ExtendedSwitch(s) => {
            m.insert("src_vlan".into(), json!(s.src_vlan));
            m.insert("src_priority".into(), json!(s.src_priority));
            m.insert("dst_vlan".into(), json!(s.dst_vlan));
            m.insert("dst_priority".into(), json!(s.dst_priority));
        }
        FlowRecord::ExtendedRouter(r) => {
            m.insert("next_hop".into(), ip_or_null(r.next_hop));
            m.insert("src_mask_len".into(), json!(r.src_mask_len));
            m.insert("dst_mask_len".into(), json!(r.dst_mask_len));
        }
        FlowRecord::ExtendedGateway(g) => {
            m.insert("next_hop".into(), ip_or_null(g.next_hop));
            m.insert("as".into(), json!(g.as_number));
            m.insert("src_as".into(), json!(g.src_as));
            m.insert("src_peer_as".into(), json!(g.src_peer_as));
            let path: Vec<Value> = g
                .as_path
                .segments()
                .map(|seg| {
                    let kind = match seg.segment_type {
                        1 => json!("as_set"),
                        2 => json!("as_sequence"),
                        n => json!(n),
                    };
                    json!({ "type": kind, "asns": seg.asns.iter().collect::<Vec<_>>() })
                })
                .collect();
            m.insert("as_path".into(), Value::Array(path));
            m.insert("dst_as".into(), json!(g.as_path.origin()));
            m.insert(
                "communities".into(),
                json!(g.communities.iter().collect::<Vec<_>>()),
            );
            m.insert("local_pref".into(), json!(g.local_pref));
        }
        FlowRecord::ExtendedUser(u) => {
            m.insert("src_charset".into(), json!(u.src_charset));
            m.insert("src_user".into(), json!(text(u.src_user)));
            m.insert("dst_charset".into(), json!(u.dst_charset));
            m.insert("dst_user".into(), json!(text(u.dst_user)));
        }
        FlowRecord::ExtendedUrl(u) => {
            m.insert("direction".into(), json!(u.direction));
            m.insert("url".into(), json!(text(u.url)));
            m.insert("host".into(), json!(text(u.host)));
        }
        FlowRecord::ExtendedDecapEgress {
            inner_header_offset,
        }
        | FlowRecord::ExtendedDecapIngress {
            inner_header_offset,
        } => {
            m.insert("inner_header_offset".into(), json!(inner_header_offset));
        }
        FlowRecord::ExtendedVniEgress { vni } | FlowRecord::ExtendedVniIngress { vni } => {
            m.insert("vni".into(), json!(vni));
        }
        FlowRecord::EgressQueue { queue } => {
            m.insert("queue".into(), json!(queue));
        }
        FlowRecord::ExtendedAcl(a) => {
            m.insert("number".into(), json!(a.number));
            m.insert("name".into(), json!(text(a.name)));
            m.insert("direction".into(), json!(a.direction));
        }
        FlowRecord::ExtendedFunction { symbol } => {
            m.insert("symbol".into(), json!(text(symbol)));
        }
        FlowRecord::ExtendedTransit { delay } => {
            m.insert("delay_ns".into(), json!(delay));
        }
        FlowRecord::ExtendedQueue { depth } => {
            m.insert("depth_bytes".into(), json!(depth));
        }
        FlowRecord::ExtendedHwTrap(t) => {
            m.insert("group".into(), json!(text(t.group)));
            m.insert("trap".into(), json!(text(t.trap)));
        }
        FlowRecord::ExtendedLinuxDropReason { reason } => {
            m.insert("reason".into(), json!(text(reason)));
        }
        FlowRecord::ExtendedSocketIpv4(s) | FlowRecord::ExtendedSocketIpv6(s) => {
            m.insert("protocol".into(), json!(s.protocol));
            m.insert("local_ip".into(), json!(s.local_ip.to_string()));
            m.insert("remote_ip".into(), json!(s.remote_ip.to_string()));
            m.insert("local_port".into(), json!(s.local_port));
            m.insert("remote_port".into(), json!(s.remote_port));
        }
        FlowRecord::Unknown { data, .. } => {
            m.insert("length".into(), json!(data.len()));
            m.insert("data".into(), json!(hex(data)));
        }
    }
    Value::Object(m)
}

fn counter_value(v: CounterValue) -> Value {
    match v {
        CounterValue::Int(n) => json!(n),
        CounterValue::Float(x) => json!(x),
        CounterValue::Mac(m) => json!(mac(m)),
    }
}

fn counter_records(records: Elements<'_>) -> Result<Value, DecodeError> {
    let mut list = Vec::new();
    for element in records {
        let element = element?;
        let record = CounterRecord::parse(element.tag, element.data)?;
        list.push(counter_record(element.tag, &record));
    }
    Ok(Value::Array(list))
}

fn counter_record(tag: Tag, record: &CounterRecord<'_>) -> Value {
    macro_rules! block {
        ($name:literal, $b:expr) => {{
            let mut m = record_header(tag, $name);
            for (k, v) in $b.fields() {
                m.insert(k.into(), counter_value(v));
            }
            m
        }};
    }
    let m = match record {
        CounterRecord::GenericInterface(b) => block!("generic_interface", b),
        CounterRecord::Ethernet(b) => block!("ethernet", b),
        CounterRecord::Vlan(b) => block!("vlan", b),
        CounterRecord::Lacp(b) => block!("lacp", b),
        CounterRecord::Processor(b) => block!("processor", b),
        CounterRecord::OpenFlowPort(b) => block!("openflow_port", b),
        CounterRecord::HostParent(b) => block!("host_parent", b),
        CounterRecord::HostCpu(b) => block!("host_cpu", b),
        CounterRecord::HostMemory(b) => block!("host_memory", b),
        CounterRecord::HostDiskIo(b) => block!("host_disk_io", b),
        CounterRecord::HostNetIo(b) => block!("host_net_io", b),
        CounterRecord::Mib2Ip(b) => block!("mib2_ip", b),
        CounterRecord::Mib2Icmp(b) => block!("mib2_icmp", b),
        CounterRecord::Mib2Tcp(b) => block!("mib2_tcp", b),
        CounterRecord::Mib2Udp(b) => block!("mib2_udp", b),
        CounterRecord::PortName { name } => {
            let mut m = record_header(tag, "port_name");
            m.insert("name".into(), json!(text(name)));
            m
        }
        CounterRecord::HostDescription(h) => {
            let mut m = record_header(tag, "host_description");
            let u = &h.uuid;
            m.insert("hostname".into(), json!(text(h.hostname)));
            m.insert(
                "uuid".into(),
                json!(format!(
                    "{}-{}-{}-{}-{}",
                    hex(&u[..4]),
                    hex(&u[4..6]),
                    hex(&u[6..8]),
                    hex(&u[8..10]),
                    hex(&u[10..])
                )),
            );
            m.insert("machine_type".into(), json!(h.machine_type));
            m.insert("os_name".into(), json!(h.os_name));
            m.insert("os_release".into(), json!(text(h.os_release)));
            m
        }
        CounterRecord::HostAdapters(a) => {
            let mut m = record_header(tag, "host_adapters");
            let list: Vec<Value> = a
                .iter()
                .map(|ad| {
                    json!({
                        "if_index": ad.if_index,
                        "macs": ad.macs().map(mac).collect::<Vec<_>>(),
                    })
                })
                .collect();
            m.insert("adapters".into(), Value::Array(list));
            m
        }
        CounterRecord::Unknown { data, .. } => {
            let mut m = record_header(tag, "unknown");
            m.insert("length".into(), json!(data.len()));
            m.insert("data".into(), json!(hex(data)));
            m
        }
    };
    Value::Object(m)
}
