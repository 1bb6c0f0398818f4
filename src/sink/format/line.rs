//! The sFlow-RT line (`Format::SflowRt`): `<PRI>Mmm dd HH:MM:SS HOST sflow-rt: k=v k="v w"`,
//! byte for byte what sFlow-RT's `syslog()` sends (REFERENCE.md section 2), cut at
//! [`super::SFLOW_RT_MAX_MESSAGE`] bytes on a character boundary.
//! No `event_id`: the line stays identical to sFlow-RT's, so existing SIEM parsers keep
//! working.

use super::{Formatter, LocalTime, APP_NAME, SFLOW_RT_MAX_MESSAGE};
use crate::flow::FlowEvent;

impl Formatter {
    /// `k=v k="v w"`: sFlow-RT quotes a value holding any character outside `[A-Za-z0-9.:-]`.
    pub(super) fn pairs(&mut self, event: &FlowEvent, out: &mut Vec<u8>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut first = true;
        self.for_each_field(event, |name, value| {
            if !first {
                out.push(b' ');
            }
            first = false;
            scratch.clear();
            value.write_text(&mut scratch);
            push_pair(name.as_bytes(), &scratch, out);
        });
        self.scratch = scratch;
    }
}

/// `<PRI>Mmm dd HH:MM:SS HOST sflow-rt: `, the RFC 3164 header of sFlow-RT's line; `pri`
/// is `<N>` already written out. The sinks and the scripts' `syslog()` both write it.
pub fn push_header3164(pri: &[u8], local: &LocalTime, hostname: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(pri);
    out.extend_from_slice(&local.rfc3164());
    out.push(b' ');
    out.extend_from_slice(hostname.as_bytes());
    out.push(b' ');
    out.extend_from_slice(APP_NAME.as_bytes());
    out.extend_from_slice(b": ");
}

/// `name=value`, the value quoted as sFlow-RT quotes it: bare when it is not empty and
/// holds only `[A-Za-z0-9.:-]`, else in double quotes.
pub fn push_pair(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.push(b'=');
    let bare = !value.is_empty()
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'));
    if bare {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &b in value {
        match b {
            // Keep a quoted value parseable: escape the quote and the escape, and never let a
            // control character (a line break) split the message.
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b if b < 0x20 || b == 0x7f => out.push(b' '),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// Cut a message that starts at `start` of `out` at sFlow-RT's 1024 bytes, on a UTF-8
/// boundary.
pub fn cut_sflow_rt(out: &mut Vec<u8>, start: usize) {
    truncate_utf8(out, start + SFLOW_RT_MAX_MESSAGE);
}

/// Cut `out` to at most `max` bytes without splitting a UTF-8 character.
pub(super) fn truncate_utf8(out: &mut Vec<u8>, max: usize) {
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
