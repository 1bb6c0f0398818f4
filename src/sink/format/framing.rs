//! Stream framing: how a TCP or TLS destination delimits messages (RFC 6587). A
//! datagram needs none. Framing is added around a finished message, so the formats
//! never know which transport carries them.

use std::io::Write as _;

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

    #[test]
    fn framing() {
        let mut out = Vec::new();
        frame(Some(Framing::OctetCounting), b"<133>abc", &mut out);
        frame(Some(Framing::Lf), b"<133>d", &mut out);
        frame(None, b"e", &mut out);
        assert_eq!(&out[..], b"8 <133>abc<133>d\ne");
    }
}
