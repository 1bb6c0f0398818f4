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
//!
//! Laid out by role: [`Formatter`] and the choice of fields here; `field` (what a message
//! can print and the text of each value), one file per layout (`line`, `rfc5424`, `json`),
//! `localtime` (the C library's local time, cached per second) and `framing`.

mod field;
mod framing;
mod json;
mod line;
mod localtime;
mod rfc5424;

pub use self::field::Field;
pub use self::framing::{frame, Framing};
pub use self::localtime::LocalTime;
pub use crate::clock::WallTime;

use self::field::{field_value, FieldValue};
use self::line::truncate_utf8;
use crate::flow::FlowEvent;

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
        localtime::reread_tz();
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
}

#[cfg(test)]
mod tests;
