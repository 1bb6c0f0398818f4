//! What a message prints: the [`Field`]s a destination may choose, their values borrowed
//! from the event, and the writers that turn a value into sFlow-RT's text.
//!
//! Every format prints values through these writers, so a key reads the same in the
//! sFlow-RT line, RFC 5424 structured data and JSON. They write digits and addresses
//! directly instead of through `core::fmt` (this runs for every value of every event);
//! the tests hold them equal to `Display`.

use std::io::Write as _;
use std::net::IpAddr;

use crate::flow::FlowEvent;
use crate::flow::FlowKey;
use crate::packet::{Key, KeyValue};

/// One thing a destination can put in a message: a flow key, or a field of the record
/// sFlow-RT hands to its flow handlers (named as in sFlow-RT: `flowID`, `dataSource`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A flow key; `agent` falls back to the event's agent when the flow has no such key.
    Key(Key),
    /// `name`: the flow definition's name.
    Name,
    /// `flowID`.
    FlowId,
    /// `flowKeys`: the key values joined by the definition's separator.
    FlowKeys,
    /// `value`: frames or bytes, scaled.
    Value,
    /// `start`, `end`: milliseconds since the epoch.
    Start,
    End,
    /// `dataSource`: the ifIndex of the data source.
    DataSource,
}

impl Field {
    /// Every record field name (keys come from [`Key::ALL`]).
    pub const RECORD_FIELDS: &'static [&'static str] = &[
        "name",
        "flowID",
        "flowKeys",
        "value",
        "start",
        "end",
        "dataSource",
    ];

    /// Look a field up by its sFlow-RT name: a flow key name or a record field name.
    pub fn from_name(name: &str) -> Option<Field> {
        if let Some(k) = Key::from_name(name) {
            return Some(Field::Key(k));
        }
        Some(match name {
            "name" => Field::Name,
            "flowID" => Field::FlowId,
            "flowKeys" => Field::FlowKeys,
            "value" => Field::Value,
            "start" => Field::Start,
            "end" => Field::End,
            "dataSource" => Field::DataSource,
            _ => return None,
        })
    }

    /// The sFlow-RT name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Key(k) => k.name(),
            Field::Name => "name",
            Field::FlowId => "flowID",
            Field::FlowKeys => "flowKeys",
            Field::Value => "value",
            Field::Start => "start",
            Field::End => "end",
            Field::DataSource => "dataSource",
        }
    }
}

/// A field's value, borrowed from the event; numbers stay numbers for JSON.
pub(super) enum FieldValue<'a> {
    Key(KeyValue),
    Ip(IpAddr),
    Text(&'a str),
    Joined(&'a FlowEvent),
    Integer(u64),
    Float(f64),
}

pub(super) fn field_value(event: &FlowEvent, field: Field) -> Option<FieldValue<'_>> {
    Some(match field {
        Field::Key(k) => match event
            .keys
            .iter()
            .find(|(key, _)| *key == FlowKey::Packet(k))
        {
            Some((_, v)) => FieldValue::Key(*v),
            None if k == Key::Agent => FieldValue::Ip(event.agent),
            None => return None,
        },
        Field::Name => FieldValue::Text(&event.name),
        Field::FlowId => FieldValue::Integer(event.flow_id),
        Field::FlowKeys => FieldValue::Joined(event),
        Field::Value => FieldValue::Float(event.value),
        Field::Start => FieldValue::Integer(event.start_ms),
        Field::End => FieldValue::Integer(event.end_ms),
        Field::DataSource => FieldValue::Integer(u64::from(event.data_source)),
    })
}

impl FieldValue<'_> {
    /// The value's text, appended to `out` (the text sFlow-RT would print).
    pub(super) fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            FieldValue::Key(v) => push_key_value(v, out),
            FieldValue::Ip(ip) => push_ip(*ip, out),
            FieldValue::Text(s) => out.extend_from_slice(s.as_bytes()),
            FieldValue::Joined(e) => {
                for (i, (_, v)) in e.keys.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(e.separator.as_bytes());
                    }
                    push_key_value(v, out);
                }
            }
            FieldValue::Integer(n) => push_u64(*n, out),
            // Writing into a Vec<u8> cannot fail.
            FieldValue::Float(x) => {
                let _ = write!(out, "{x}");
            }
        }
    }

    pub(super) fn is_number(&self) -> bool {
        match self {
            FieldValue::Key(KeyValue::Number(_)) | FieldValue::Integer(_) => true,
            FieldValue::Float(x) => x.is_finite(),
            _ => false,
        }
    }
}

/// Decimal digits of `n`, without the `core::fmt` machinery (this runs for every value
/// of every event; `write!` costs several times more).
pub(super) fn push_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `KeyValue`'s `Display` text (the sFlow-RT form), written directly. IPv6 goes through
/// `Display` (its zero compression is not worth re-implementing); the tests check that
/// every other form equals `Display` byte for byte.
pub(super) fn push_key_value(v: &KeyValue, out: &mut Vec<u8>) {
    match *v {
        KeyValue::Ip(ip) => push_ip(ip, out),
        KeyValue::Number(n) => push_u64(u64::from(n), out),
        KeyValue::Port(l4, port) => {
            out.extend_from_slice(match l4 {
                crate::packet::L4::Tcp => b"tcp_",
                crate::packet::L4::Udp => b"udp_",
            });
            push_u64(u64::from(port), out);
        }
        KeyValue::Group(name) => out.extend_from_slice(name.as_bytes()),
        KeyValue::Mac(m) => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            for b in m {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
        }
    }
}

pub(super) fn push_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(u64::from(o), out);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `event_id` as 16 lower-case hex digits (the same text in every format that has it).
pub(super) fn push_event_id(id: u64, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..16).rev() {
        out.push(HEX[((id >> (i * 4)) & 0xF) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::keys::L4;

    #[test]
    fn direct_writers_equal_display() {
        let mut values = vec![
            KeyValue::Number(0),
            KeyValue::Number(u32::MAX),
            KeyValue::Port(L4::Tcp, 0),
            KeyValue::Port(L4::Udp, 65535),
            KeyValue::Mac([0, 0x1c, 0x2e, 0xab, 0x0f, 0x80]),
            KeyValue::Mac([0xff; 6]),
            KeyValue::Ip("2001:db8::1".parse().unwrap()),
            KeyValue::Ip("::ffff:10.0.0.1".parse().unwrap()),
        ];
        for i in 0..2000u32 {
            let x = i.wrapping_mul(2_654_435_761);
            values.push(KeyValue::Ip(std::net::Ipv4Addr::from(x).into()));
            values.push(KeyValue::Number(x >> (i % 32)));
            values.push(KeyValue::Port(L4::Udp, x as u16));
        }
        for v in values {
            let mut out = Vec::new();
            push_key_value(&v, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        for n in [0u64, 9, 10, 99, 100, u64::MAX] {
            let mut out = Vec::new();
            push_u64(n, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn names_round_trip() {
        for n in Field::RECORD_FIELDS {
            assert_eq!(Field::from_name(n).unwrap().name(), *n);
        }
        for k in Key::ALL {
            assert_eq!(Field::from_name(k.name()), Some(Field::Key(*k)));
        }
        assert_eq!(Field::from_name("flowid"), None);
    }
}
