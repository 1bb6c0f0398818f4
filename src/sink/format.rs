//! Syslog message formats: turn one [`FlowEvent`] into the bytes of one syslog message.
//!
//! Three formats, chosen per destination:
//! - [`Format::SflowRt`]: sFlow-RT's own line, byte for byte (REFERENCE.md section 2):
//!   `<PRI>Mmm dd HH:MM:SS HOST sflow-rt: key1=value1 key2="value 2"`, RFC 3164 style,
//!   local time, no year, cut at 1024 bytes. This is what existing SIEM parsers expect.
//! - [`Format::Rfc5424`]: the pairs as RFC 5424 structured data under a configurable SD-ID,
//!   with PARAM-VALUE escaping (`"`, `\`, `]`) and a full timestamp with UTC offset.
//! - [`Format::Json`]: the RFC 3164 header of `sflow-rt` followed by one JSON object as
//!   the message body, for Logstash and Splunk pipelines that parse JSON.
//!
//! Both of these end with `event_id` ([`crate::flow::event::event_id`], 16 hex digits):
//! equal for the same event at two collectors fed by the same agent, so a SIEM can drop
//! the second copy. The sFlow-RT line has none: it stays byte-identical to sFlow-RT's.
//!
//! A [`Formatter`] writes into a caller-owned buffer and keeps its own scratch space and a
//! per-second cache of the broken-down local time, so a warm formatter does not allocate
//! and calls `localtime_r` at most once per second. Framing (octet counting or LF) is the
//! transport's business and is added around the message by [`frame`].

use std::io::Write as _;
use std::net::IpAddr;

use crate::flow::FlowEvent;
use crate::flow::FlowKey;
use crate::packet::{Key, KeyValue};

/// sFlow-RT cuts every message at this many bytes (REFERENCE.md section 2).
pub const SFLOW_RT_MAX_MESSAGE: usize = 1024;

/// The RFC 3164 TAG / RFC 5424 APP-NAME sFlow-RT uses; SIEM parsers match on it.
pub const APP_NAME: &str = "sflow-rt";

/// Which message layout a destination receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// sFlow-RT's RFC 3164 line (the seed behaviour).
    #[serde(rename = "sflow-rt")]
    SflowRt,
    /// RFC 5424 with the pairs as structured data.
    #[serde(rename = "rfc5424")]
    Rfc5424,
    /// RFC 3164 header, JSON object body.
    #[serde(rename = "json")]
    Json,
}

impl Format {
    /// The configuration spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Format::SflowRt => "sflow-rt",
            Format::Rfc5424 => "rfc5424",
            Format::Json => "json",
        }
    }

    /// Parse the configuration spelling.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "sflow-rt" => Some(Format::SflowRt),
            "rfc5424" => Some(Format::Rfc5424),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

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
enum FieldValue<'a> {
    Key(KeyValue),
    Ip(IpAddr),
    Text(&'a str),
    Joined(&'a FlowEvent),
    Integer(u64),
    Float(f64),
}

fn field_value(event: &FlowEvent, field: Field) -> Option<FieldValue<'_>> {
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
    fn write_text(&self, out: &mut Vec<u8>) {
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

    fn is_number(&self) -> bool {
        match self {
            FieldValue::Key(KeyValue::Number(_)) | FieldValue::Integer(_) => true,
            FieldValue::Float(x) => x.is_finite(),
            _ => false,
        }
    }
}

/// Decimal digits of `n`, without the `core::fmt` machinery (this runs for every value
/// of every event; `write!` costs several times more).
fn push_u64(mut n: u64, out: &mut Vec<u8>) {
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
fn push_key_value(v: &KeyValue, out: &mut Vec<u8>) {
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

fn push_ip(ip: IpAddr, out: &mut Vec<u8>) {
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

/// A wall-clock instant: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime {
    pub secs: i64,
    pub nanos: u32,
}

impl WallTime {
    /// Now, from `CLOCK_REALTIME`.
    pub fn now() -> WallTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallTime {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }
}

/// Broken-down local time, the part of `struct tm` the formats print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in seconds, east positive.
    pub utc_offset: i32,
}

impl LocalTime {
    /// Convert with the C library's `localtime_r`, so `TZ` and /etc/localtime apply as for
    /// every other program on the host (sFlow-RT, a JVM, also prints local time).
    pub fn from_epoch(secs: i64) -> LocalTime {
        let t = secs as libc::time_t;
        // SAFETY: all-zero bytes are a valid `struct tm` (integers and a null pointer).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: `t` and `tm` are valid for the duration of the call; localtime_r is the
        // thread-safe variant and writes only into `tm`.
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if !ok {
            return LocalTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                utc_offset: 0,
            };
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1).clamp(1, 12) as u8,
            day: tm.tm_mday.clamp(1, 31) as u8,
            hour: tm.tm_hour.clamp(0, 23) as u8,
            minute: tm.tm_min.clamp(0, 59) as u8,
            // 60 is a leap second; RFC 3164 allows it.
            second: tm.tm_sec.clamp(0, 60) as u8,
            utc_offset: i32::try_from(tm.tm_gmtoff).unwrap_or(0),
        }
    }

    /// `Mmm dd HH:MM:SS`, day space-padded (RFC 3164 TIMESTAMP): always 15 bytes.
    pub fn rfc3164(&self) -> [u8; 15] {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let mut s = *b"Jan  1 00:00:00";
        s[0..3].copy_from_slice(MONTHS[usize::from(self.month.clamp(1, 12) - 1)]);
        let d = self.day;
        s[4] = if d >= 10 { b'0' + d / 10 } else { b' ' };
        s[5] = b'0' + d % 10;
        two_digits(&mut s[7..9], self.hour);
        two_digits(&mut s[10..12], self.minute);
        two_digits(&mut s[13..15], self.second);
        s
    }
}

fn two_digits(out: &mut [u8], n: u8) {
    out[0] = b'0' + (n / 10) % 10;
    out[1] = b'0' + n % 10;
}

/// Per-destination message settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatOptions {
    pub format: Format,
    /// 0..=23
    pub facility: u8,
    /// 0..=7
    pub severity: u8,
    /// The HOST / HOSTNAME field (no spaces).
    pub hostname: String,
    /// RFC 5424 SD-ID.
    pub sd_id: String,
    /// What to print; empty means the flow's keys in definition order (the seed).
    pub fields: Vec<Field>,
}

/// Writes messages of one destination. Not shared between threads: each sender thread
/// owns one, with its scratch buffer and time cache.
pub struct Formatter {
    opts: FormatOptions,
    pri: Vec<u8>,
    scratch: Vec<u8>,
    cached_secs: Option<i64>,
    cached: LocalTime,
}

impl Formatter {
    pub fn new(opts: FormatOptions) -> Formatter {
        // glibc's localtime_r reads TZ only once unless tzset runs; call it so a TZ set by
        // the operator before start-up is honoured.
        // SAFETY: tzset has no preconditions.
        unsafe { tzset() };
        let pri = format!(
            "<{}>",
            u16::from(opts.facility) * 8 + u16::from(opts.severity)
        )
        .into_bytes();
        Formatter {
            opts,
            pri,
            scratch: Vec::with_capacity(256),
            cached_secs: None,
            cached: LocalTime::from_epoch(0),
        }
    }

    pub fn options(&self) -> &FormatOptions {
        &self.opts
    }

    fn local(&mut self, secs: i64) -> LocalTime {
        if self.cached_secs != Some(secs) {
            self.cached = LocalTime::from_epoch(secs);
            self.cached_secs = Some(secs);
        }
        self.cached
    }

    /// Append the message for `event` at wall time `now` to `out` (unframed).
    pub fn format(&mut self, event: &FlowEvent, now: WallTime, out: &mut Vec<u8>) {
        let local = self.local(now.secs);
        self.format_at(event, &local, now.nanos, out);
    }

    /// Like [`Formatter::format`] with an explicit broken-down local time (tests, replays).
    pub fn format_at(
        &mut self,
        event: &FlowEvent,
        local: &LocalTime,
        nanos: u32,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        match self.opts.format {
            Format::SflowRt => {
                self.header3164(local, out);
                self.pairs(event, out);
                truncate_utf8(out, start + SFLOW_RT_MAX_MESSAGE);
            }
            Format::Json => {
                self.header3164(local, out);
                self.json(event, out);
            }
            Format::Rfc5424 => self.rfc5424(event, local, nanos, out),
        }
    }

    fn header3164(&self, local: &LocalTime, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pri);
        out.extend_from_slice(&local.rfc3164());
        out.push(b' ');
        out.extend_from_slice(self.opts.hostname.as_bytes());
        out.push(b' ');
        out.extend_from_slice(APP_NAME.as_bytes());
        out.extend_from_slice(b": ");
    }

    /// Visit the fields this destination prints, in order. A threshold event prints
    /// sFlow-RT's threshold event fields whatever `fields` says: `thresholdID`, `metric`,
    /// `agent`, `dataSource`, `flowKey` (flow metrics: the keys joined by `fs`), `value`
    /// (rounded down), `threshold`, and `status=end` when it re-armed.
    fn for_each_field<'e>(
        &self,
        event: &'e FlowEvent,
        mut f: impl FnMut(&'static str, FieldValue<'e>),
    ) {
        if let Some(t) = &event.threshold {
            f("thresholdID", FieldValue::Text(&event.name));
            f("metric", FieldValue::Text(&t.metric));
            f("agent", FieldValue::Ip(event.agent));
            f(
                "dataSource",
                FieldValue::Integer(u64::from(event.data_source)),
            );
            if !event.keys.is_empty() {
                f("flowKey", FieldValue::Joined(event));
            }
            let value = if event.value.is_finite() && event.value > 0.0 {
                event.value.floor() as u64
            } else {
                0
            };
            f("value", FieldValue::Integer(value));
            f("threshold", FieldValue::Float(t.threshold));
            if t.end {
                f("status", FieldValue::Text("end"));
            }
        } else if self.opts.fields.is_empty() {
            for (k, v) in event.keys.iter() {
                f(k.name(), FieldValue::Key(*v));
            }
        } else {
            for &field in &self.opts.fields {
                if let Some(v) = field_value(event, field) {
                    f(field.name(), v);
                }
            }
        }
    }

    /// `k=v k="v w"`: sFlow-RT quotes a value holding any character outside `[A-Za-z0-9.:-]`.
    fn pairs(&mut self, event: &FlowEvent, out: &mut Vec<u8>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut first = true;
        self.for_each_field(event, |name, value| {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            scratch.clear();
            value.write_text(&mut scratch);
            let bare = !scratch.is_empty()
                && scratch
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'));
            if bare {
                out.extend_from_slice(&scratch);
            } else {
                out.push(b'"');
                for &b in scratch.iter() {
                    match b {
                        // Keep a quoted value parseable: escape the quote and the escape, and
                        // never let a control character (a line break) split the message.
                        b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                        b if b < 0x20 || b == 0x7f => out.push(b' '),
                        b => out.push(b),
                    }
                }
                out.push(b'"');
            }
        });
        self.scratch = scratch;
    }

    fn json(&mut self, event: &FlowEvent, out: &mut Vec<u8>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        out.push(b'{');
        let mut first = true;
        self.for_each_field(event, |name, value| {
            if !first {
                out.push(b',');
            }
            first = false;
            json_string(name.as_bytes(), out);
            out.push(b':');
            scratch.clear();
            value.write_text(&mut scratch);
            if value.is_number() {
                out.extend_from_slice(&scratch);
            } else {
                json_string(&scratch, out);
            }
        });
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"event_id\":\"");
        push_event_id(event.event_id, out);
        out.extend_from_slice(b"\"}");
        self.scratch = scratch;
    }

    fn rfc5424(&mut self, event: &FlowEvent, local: &LocalTime, nanos: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pri);
        out.extend_from_slice(b"1 ");
        // FULL-DATE "T" PARTIAL-TIME (milliseconds) TIME-OFFSET, e.g.
        // 2026-11-24T10:15:30.123+01:00.
        let mut t = *b"0000-00-00T00:00:00.000";
        let year = local.year.clamp(0, 9999) as u32;
        t[0] = b'0' + (year / 1000) as u8;
        t[1] = b'0' + (year / 100 % 10) as u8;
        t[2] = b'0' + (year / 10 % 10) as u8;
        t[3] = b'0' + (year % 10) as u8;
        two_digits(&mut t[5..7], local.month);
        two_digits(&mut t[8..10], local.day);
        two_digits(&mut t[11..13], local.hour);
        two_digits(&mut t[14..16], local.minute);
        // RFC 5424 TIME-SECOND is 00..59: a leap second is folded into :59.
        two_digits(&mut t[17..19], local.second.min(59));
        let ms = nanos / 1_000_000 % 1000;
        t[20] = b'0' + (ms / 100) as u8;
        t[21] = b'0' + (ms / 10 % 10) as u8;
        t[22] = b'0' + (ms % 10) as u8;
        out.extend_from_slice(&t);
        if local.utc_offset == 0 {
            out.push(b'Z');
        } else {
            let mut o = *b"+00:00";
            if local.utc_offset < 0 {
                o[0] = b'-';
            }
            let minutes = local.utc_offset.unsigned_abs() / 60;
            two_digits(&mut o[1..3], (minutes / 60 % 100) as u8);
            two_digits(&mut o[4..6], (minutes % 60) as u8);
            out.extend_from_slice(&o);
        }
        out.push(b' ');
        out.extend_from_slice(self.opts.hostname.as_bytes());
        out.push(b' ');
        out.extend_from_slice(APP_NAME.as_bytes());
        // PROCID nil; MSGID the flow name (printable ASCII, at most 32 chars, else nil).
        out.extend_from_slice(b" - ");
        let name = event.name.as_bytes();
        if !name.is_empty() && name.len() <= 32 && name.iter().all(|b| (33..=126).contains(b)) {
            out.extend_from_slice(name);
        } else {
            out.push(b'-');
        }
        out.extend_from_slice(b" [");
        out.extend_from_slice(self.opts.sd_id.as_bytes());
        let mut scratch = std::mem::take(&mut self.scratch);
        self.for_each_field(event, |name, value| {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            scratch.clear();
            value.write_text(&mut scratch);
            // RFC 5424 section 6.3.3: '"', '\' and ']' MUST be escaped in PARAM-VALUE.
            for &b in scratch.iter() {
                if matches!(b, b'"' | b'\\' | b']') {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        });
        self.scratch = scratch;
        out.extend_from_slice(b" event_id=\"");
        push_event_id(event.event_id, out);
        out.extend_from_slice(b"\"]");
    }
}

/// `event_id` as 16 lower-case hex digits (the same text in every format that has it).
fn push_event_id(id: u64, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..16).rev() {
        out.push(HEX[((id >> (i * 4)) & 0xF) as usize]);
    }
}

extern "C" {
    // Not exported by the libc crate for every target; POSIX, always present in glibc/musl.
    fn tzset();
}

/// Cut `out` to at most `max` bytes without splitting a UTF-8 character.
fn truncate_utf8(out: &mut Vec<u8>, max: usize) {
    if out.len() <= max {
        return;
    }
    let mut end = max;
    // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
    while end > 0 && (out[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    out.truncate(end);
}

/// Append `s` as a JSON string literal (RFC 8259 escaping), copying runs of plain bytes.
fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b if b < 0x20 => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        run = i + 1;
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

/// How a stream transport delimits messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Framing {
    /// RFC 6587 section 3.4.1 octet counting: `LEN SP MSG` (rsyslog's default, RFC 5425).
    #[serde(rename = "octet-counting")]
    OctetCounting,
    /// RFC 6587 section 3.4.2 non-transparent framing with LF (Logstash `tcp` inputs).
    #[serde(rename = "lf")]
    Lf,
}

/// Append `msg` to `out` framed for a stream transport (`None`: a datagram, as is).
pub fn frame(framing: Option<Framing>, msg: &[u8], out: &mut Vec<u8>) {
    match framing {
        None => out.extend_from_slice(msg),
        Some(Framing::OctetCounting) => {
            let _ = write!(out, "{} ", msg.len());
            out.extend_from_slice(msg);
        }
        Some(Framing::Lf) => {
            out.extend_from_slice(msg);
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::keys::L4;

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
            "<133>Dec  6 15:40:02 host sflow-rt: thresholdID=udpflood metric=udpflood agent=10.3.0.1 dataSource=7 flowKey=192.0.2.55 value=123456 threshold=100000"
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
            s.ends_with(r#"sflow-rt: {"thresholdID":"hotlink","metric":"ifinutilization","agent":"10.3.0.1","dataSource":3,"value":91,"threshold":80,"status":"end","event_id":"0000000000000000"}"#),
            "{s}"
        );
        o.format = Format::Rfc5424;
        let mut f = Formatter::new(o);
        let s = render(&mut f, &flood, &dec6);
        assert!(
            s.contains(r#" udpflood [sflow-rt@4300 thresholdID="udpflood" metric="udpflood" agent="10.3.0.1" dataSource="7" flowKey="192.0.2.55" value="123456" threshold="100000""#),
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
            "<133>1 2026-11-24T10:15:30.123Z collector1 sflow-rt - uport [sflow-rt@4300 ipsource=\"10.0.0.5\" name=\"uport\" icmpunreachableport=\"udp_53\" event_id=\"0000000000000000\"]"
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
            "<133>Nov 24 10:15:30 collector1 sflow-rt: {\"ipsource\":\"10.0.0.5\",\"ipdestination\":\"10.0.0.9\",\"icmpunreachableport\":\"udp_53\",\"event_id\":\"0000000000000000\"}"
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
    fn local_time_follows_the_c_library() {
        // 2023-11-14T22:13:20Z; compare with gmtime_r shifted by the reported offset so the
        // test holds in any TZ the machine runs with.
        let secs = 1_700_000_000;
        let local = LocalTime::from_epoch(secs);
        let shifted = secs + i64::from(local.utc_offset);
        let days = shifted.div_euclid(86_400);
        let rem = shifted.rem_euclid(86_400);
        assert_eq!(i64::from(local.hour), rem / 3600);
        assert_eq!(i64::from(local.minute), rem % 3600 / 60);
        assert_eq!(i64::from(local.second), rem % 60);
        // 19675 days after the epoch is 2023-11-14.
        let expected_day = if days == 19675 {
            14
        } else if days == 19676 {
            15
        } else {
            13
        };
        assert_eq!(local.day, expected_day);
        assert_eq!(local.month, 11);
        assert_eq!(&local.rfc3164()[..4], b"Nov ");
    }

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
    fn json_strings_match_serde_json() {
        for s in ["", "plain", "q\"b\\s", "nl\n\r\t", "ctl\u{1}\u{1f}", "é ü"] {
            let mut out = Vec::new();
            json_string(s.as_bytes(), &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn framing() {
        let mut out = Vec::new();
        frame(Some(Framing::OctetCounting), b"<133>abc", &mut out);
        frame(Some(Framing::Lf), b"<133>d", &mut out);
        frame(None, b"e", &mut out);
        assert_eq!(&out[..], b"8 <133>abc<133>d\ne");
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
        for f in [Format::SflowRt, Format::Rfc5424, Format::Json] {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
    }
}
