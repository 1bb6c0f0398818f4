//! The JSON format (`Format::Json`): the RFC 3164 header of the sFlow-RT line, then one
//! JSON object as the message body (numbers stay numbers; strings escaped as RFC 8259
//! says), ending with `event_id`. For Logstash and Splunk pipelines that parse JSON.

use std::io::Write as _;

use super::field::push_event_id;
use super::Formatter;
use crate::flow::FlowEvent;

impl Formatter {
    pub(super) fn json(&mut self, event: &FlowEvent, out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_match_serde_json() {
        for s in ["", "plain", "q\"b\\s", "nl\n\r\t", "ctl\u{1}\u{1f}", "é ü"] {
            let mut out = Vec::new();
            json_string(s.as_bytes(), &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }
}
