//! The sFlow-RT line (`Format::SflowRt`): `<PRI>Mmm dd HH:MM:SS HOST sflow-rt: k=v k="v w"`,
//! byte for byte what sFlow-RT's `syslog()` sends (REFERENCE.md section 2), cut at
//! [`SFLOW_RT_MAX_MESSAGE`](super::SFLOW_RT_MAX_MESSAGE) bytes on a character boundary.
//! No `event_id`: the line stays identical to sFlow-RT's, so existing SIEM parsers keep
//! working.

use super::Formatter;
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
