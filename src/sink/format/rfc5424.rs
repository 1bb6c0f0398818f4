//! RFC 5424 (`Format::Rfc5424`): a full timestamp with milliseconds and UTC offset, the
//! flow's name as MSGID, and the pairs as structured data under the configured SD-ID with
//! PARAM-VALUE escaping (`"`, `\`, `]`), ending with `event_id`.

use super::field::push_event_id;
use super::localtime::{two_digits, LocalTime};
use super::{Formatter, APP_NAME};
use crate::flow::FlowEvent;

impl Formatter {
    pub(super) fn rfc5424(
        &mut self,
        event: &FlowEvent,
        local: &LocalTime,
        nanos: u32,
        out: &mut Vec<u8>,
    ) {
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
