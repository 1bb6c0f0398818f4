//! Whole messages in each format, byte for byte: the reference example, quoting and
//! escaping, chosen and threshold fields, the 1024-byte cut.

use super::*;
use crate::packet::keys::L4;
use crate::packet::{Key, KeyValue};

fn event() -> FlowEvent {
    FlowEvent {
        flow_id: 7,
        name: "uport".into(),
        keys: vec![
            (Key::IpSource, KeyValue::Ip("10.0.0.5".parse().unwrap())),
            (
                Key::IpDestination,
                KeyValue::Ip("10.0.0.9".parse().unwrap()),
            ),
            (Key::IcmpUnreachablePort, KeyValue::Port(L4::Udp, 53)),
        ]
        .into_iter()
        .map(|(k, v)| (crate::flow::FlowKey::Packet(k), v))
        .collect(),
        separator: ",".into(),
        value: 1000.0,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_000_500,
        agent: "192.0.2.1".parse().unwrap(),
        data_source: 3,
        received_ns: 0,
        event_id: 0,
        threshold: None,
    }
}

fn opts(format: Format) -> FormatOptions {
    FormatOptions {
        format,
        facility: 16,
        severity: 5,
        hostname: "collector1".into(),
        sd_id: "sflow-rt@4300".into(),
        fields: Vec::new(),
    }
}

const NOV24: LocalTime = LocalTime {
    year: 2026,
    month: 11,
    day: 24,
    hour: 10,
    minute: 15,
    second: 30,
    utc_offset: 0,
};

fn render(f: &mut Formatter, e: &FlowEvent, t: &LocalTime) -> String {
    let mut out = Vec::new();
    f.format_at(e, t, 123_456_789, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn sflow_rt_matches_reference_example_byte_for_byte() {
    let mut f = Formatter::new(opts(Format::SflowRt));
    let mut out = Vec::new();
    f.format_at(&event(), &NOV24, 0, &mut out);
    assert_eq!(
        &out[..],
        &b"<133>Nov 24 10:15:30 collector1 sflow-rt: ipsource=10.0.0.5 ipdestination=10.0.0.9 icmpunreachableport=\"udp_53\""[..]
    );
}

#[test]
fn day_is_space_padded_and_pri_follows_facility_and_severity() {
    let mut o = opts(Format::SflowRt);
    o.facility = 4;
    o.severity = 2;
    let mut f = Formatter::new(o);
    let t = LocalTime {
        month: 1,
        day: 4,
        hour: 0,
        minute: 5,
        second: 9,
        ..NOV24
    };
    let s = render(&mut f, &event(), &t);
    assert!(
        s.starts_with("<34>Jan  4 00:05:09 collector1 sflow-rt: "),
        "{s}"
    );
}

#[test]
fn quoting_rule_keeps_addresses_macs_and_ipv6_bare() {
    let mut e = event();
    e.keys = vec![
        (Key::Ip6Source, KeyValue::Ip("2001:db8::1".parse().unwrap())),
        (
            Key::MacSource,
            KeyValue::Mac([0, 0x1c, 0x2e, 0xab, 0x0f, 0x80]),
        ),
        (Key::IcmpUnreachablePort, KeyValue::Port(L4::Tcp, 22)),
        (Key::Vlan, KeyValue::Number(32)),
    ]
    .into_iter()
    .map(|(k, v)| (crate::flow::FlowKey::Packet(k), v))
    .collect();
    let mut f = Formatter::new(opts(Format::SflowRt));
    let s = render(&mut f, &e, &NOV24);
    assert!(
        s.ends_with(
            "sflow-rt: ip6source=2001:db8::1 macsource=001C2EAB0F80 icmpunreachableport=\"tcp_22\" vlan=32"
        ),
        "{s}"
    );
}

#[test]
fn chosen_fields_and_record_fields() {
    let mut o = opts(Format::SflowRt);
    o.fields = [
        "name",
        "ipdestination",
        "agent",
        "flowKeys",
        "value",
        "dataSource",
        "vlan",
    ]
    .iter()
    .map(|n| Field::from_name(n).unwrap())
    .collect();
    let mut f = Formatter::new(o);
    let s = render(&mut f, &event(), &NOV24);
    // `vlan` is not a key of this flow: omitted, not printed empty.
    assert!(
        s.ends_with(
            "sflow-rt: name=uport ipdestination=10.0.0.9 agent=192.0.2.1 flowKeys=\"10.0.0.5,10.0.0.9,udp_53\" value=1000 dataSource=3"
        ),
        "{s}"
    );
}

/// A threshold event with `keys` (a flow metric) or without (an interface metric).
fn crossing(
    name: &str,
    metric: &str,
    keys: &[(Key, KeyValue)],
    value: f64,
    threshold: f64,
    end: bool,
) -> FlowEvent {
    let mut e = event();
    e.name = name.into();
    e.keys = keys
        .iter()
        .map(|&(k, v)| (crate::flow::FlowKey::Packet(k), v))
        .collect();
    e.agent = "10.3.0.1".parse().unwrap();
    e.data_source = 7;
    e.value = value;
    e.threshold = Some(Box::new(crate::threshold::Crossing {
        metric: metric.into(),
        threshold,
        end,
    }));
    e
}

#[test]
fn threshold_events_print_sflow_rts_fields_in_every_format() {
    let dec6 = LocalTime {
        month: 12,
        day: 6,
        hour: 15,
        minute: 40,
        second: 2,
        ..NOV24
    };
    let flood = crossing(
        "udpflood",
        "udpflood",
        &[(
            Key::IpDestination,
            KeyValue::Ip("192.0.2.55".parse().unwrap()),
        )],
        123_456.9,
        100_000.0,
        false,
    );
    let mut o = opts(Format::SflowRt);
    o.hostname = "host".into();
    // `fields` shapes flow records only.
    o.fields = vec![Field::Name];
    let mut f = Formatter::new(o.clone());
    assert_eq!(
        render(&mut f, &flood, &dec6),
        concat!(
            "<133>Dec  6 15:40:02 host sflow-rt: thresholdID=udpflood metric=udpflood ",
            "agent=10.3.0.1 dataSource=7 flowKey=192.0.2.55 value=123456 threshold=100000"
        )
    );
    let mut hot = crossing("hotlink", "ifinutilization", &[], 91.7, 80.0, false);
    hot.data_source = 3;
    assert_eq!(
        render(&mut f, &hot, &dec6),
        "<133>Dec  6 15:40:02 host sflow-rt: thresholdID=hotlink metric=ifinutilization agent=10.3.0.1 dataSource=3 value=91 threshold=80"
    );
    let mut end = hot.clone();
    end.threshold.as_mut().unwrap().end = true;
    assert!(render(&mut f, &end, &dec6).ends_with(" value=91 threshold=80 status=end"));
    // Two keys are joined by the definition's separator (and quoted by the rule).
    let mut two = flood.clone();
    two.keys = vec![
        (
            crate::flow::FlowKey::Packet(Key::IpDestination),
            KeyValue::Ip("192.0.2.55".parse().unwrap()),
        ),
        (
            crate::flow::FlowKey::Packet(Key::UdpDestinationPort),
            KeyValue::Number(53),
        ),
    ]
    .into();
    assert!(render(&mut f, &two, &dec6).contains(" flowKey=\"192.0.2.55,53\" "));

    o.format = Format::Json;
    let mut f = Formatter::new(o.clone());
    let s = render(&mut f, &end, &dec6);
    assert!(
        s.ends_with(concat!(
            r#"sflow-rt: {"thresholdID":"hotlink","metric":"ifinutilization","agent":"10.3.0.1","#,
            r#""dataSource":3,"value":91,"threshold":80,"status":"end","event_id":"0000000000000000"}"#
        )),
        "{s}"
    );
    o.format = Format::Rfc5424;
    let mut f = Formatter::new(o);
    let s = render(&mut f, &flood, &dec6);
    assert!(
        s.contains(concat!(
            r#" udpflood [sflow-rt@4300 thresholdID="udpflood" metric="udpflood" agent="10.3.0.1" "#,
            r#"dataSource="7" flowKey="192.0.2.55" value="123456" threshold="100000""#
        )),
        "{s}"
    );
}

#[test]
fn quoted_values_escape_quotes_and_never_break_lines() {
    let mut e = event();
    e.name = "a\"b\\c\nd".into();
    let mut o = opts(Format::SflowRt);
    o.fields = vec![Field::Name];
    let mut f = Formatter::new(o);
    let s = render(&mut f, &e, &NOV24);
    assert!(s.ends_with("name=\"a\\\"b\\\\c d\""), "{s}");
}

#[test]
fn cut_at_1024_bytes_on_a_character_boundary() {
    let mut e = event();
    e.name = "é".repeat(800).into();
    let mut o = opts(Format::SflowRt);
    o.fields = vec![Field::Name];
    let mut f = Formatter::new(o);
    let mut out = Vec::new();
    f.format_at(&e, &NOV24, 0, &mut out);
    assert!(out.len() <= SFLOW_RT_MAX_MESSAGE && out.len() >= SFLOW_RT_MAX_MESSAGE - 1);
    assert!(std::str::from_utf8(&out).is_ok());
    // Appending after other bytes cuts relative to the message start.
    let mut out = b"prefix".to_vec();
    f.format_at(&e, &NOV24, 0, &mut out);
    assert!(out.len() - 6 <= SFLOW_RT_MAX_MESSAGE);
    assert!(std::str::from_utf8(&out).is_ok());
}

#[test]
fn rfc5424_structured_data_with_escaping() {
    let mut e = event();
    let mut o = opts(Format::Rfc5424);
    o.fields = vec![
        Field::Key(Key::IpSource),
        Field::Name,
        Field::Key(Key::IcmpUnreachablePort),
    ];
    let mut f = Formatter::new(o);
    let s = render(&mut f, &e, &NOV24);
    assert_eq!(
        s,
        concat!(
            "<133>1 2026-11-24T10:15:30.123Z collector1 sflow-rt - uport [sflow-rt@4300 ",
            "ipsource=\"10.0.0.5\" name=\"uport\" icmpunreachableport=\"udp_53\" ",
            "event_id=\"0000000000000000\"]"
        )
    );
    e.name = "x]\"\\ y".into();
    let t = LocalTime {
        utc_offset: -(5 * 3600 + 30 * 60),
        ..NOV24
    };
    let s = render(&mut f, &e, &t);
    // A name that is not a valid MSGID becomes nil.
    assert!(
        s.starts_with("<133>1 2026-11-24T10:15:30.123-05:30 collector1 sflow-rt - - ["),
        "{s}"
    );
    assert!(s.contains(" name=\"x\\]\\\"\\\\ y\" "), "{s}");
}

#[test]
fn json_body_keeps_numbers_numeric_and_escapes_strings() {
    let mut e = event();
    let mut f = Formatter::new(opts(Format::Json));
    let s = render(&mut f, &e, &NOV24);
    assert_eq!(
        s,
        concat!(
            "<133>Nov 24 10:15:30 collector1 sflow-rt: {\"ipsource\":\"10.0.0.5\",",
            "\"ipdestination\":\"10.0.0.9\",\"icmpunreachableport\":\"udp_53\",",
            "\"event_id\":\"0000000000000000\"}"
        )
    );
    e.name = "q\"\n".into();
    let mut o = opts(Format::Json);
    o.fields = vec![
        Field::Name,
        Field::FlowId,
        Field::Value,
        Field::Key(Key::IpSource),
    ];
    let mut f = Formatter::new(o);
    let s = render(&mut f, &e, &NOV24);
    let body = s.split_once("sflow-rt: ").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["name"], "q\"\n");
    assert_eq!(v["flowID"], 7);
    assert_eq!(v["value"], 1000);
    assert_eq!(v["ipsource"], "10.0.0.5");
}

#[test]
fn format_names_round_trip() {
    for f in [Format::SflowRt, Format::Rfc5424, Format::Json] {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
}
