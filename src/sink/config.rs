//! Configuration of one syslog destination (`[[sink]]` in the TOML file).
//!
//! Every value is checked while it is deserialized (facility range, field names, SD-ID
//! syntax, host name), so a mistake is reported with the file position `toml` attaches to
//! deserialization errors; only checks that span several fields run afterwards
//! ([`SinkConfig::validate`]). Defaults live in named functions and equal the seed script:
//! UDP to 127.0.0.1:514, local0.notice, sFlow-RT's line.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::format::{Field, Format, Framing};

/// How messages travel to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One datagram per message, sent in batches with `sendmmsg`.
    Udp,
    /// A TCP stream, framed ([`Framing`]), written with vectored writes.
    Tcp,
    /// TCP with TLS (RFC 5425), rustls.
    Tls,
}

impl Transport {
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// One `[[sink]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Name used in stats lines and log messages.
    #[serde(default = "default_name")]
    pub name: String,
    /// `udp`, `tcp` or `tls`.
    #[serde(default = "default_transport")]
    pub transport: Transport,
    /// `HOST:PORT` of the receiver; the host may be a name, resolved at every (re)connect.
    #[serde(default = "default_address")]
    pub address: Address,
    /// `sflow-rt`, `rfc5424` or `json`.
    #[serde(default = "default_format")]
    pub format: Format,
    /// Syslog facility, 0..=23 or a name (`local0`).
    #[serde(default = "default_facility")]
    pub facility: Facility,
    /// Syslog severity, 0..=7 or a name (`notice`).
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// HOST field of every message; default: this machine's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<HostName>,
    /// RFC 5424 SD-ID the pairs are written under (`name@PEN`).
    #[serde(default = "default_sd_id")]
    pub sd_id: SdId,
    /// Flow definitions and thresholds (by name) this destination takes; empty: all.
    #[serde(default)]
    pub flows: Vec<String>,
    /// Fields to print, in order: flow key names and record fields (`name`, `flowID`,
    /// `flowKeys`, `value`, `start`, `end`, `agent`, `dataSource`). Empty: the flow's keys.
    #[serde(default)]
    pub fields: Vec<FieldName>,
    /// Stream framing for `tcp` and `tls`: `octet-counting` (RFC 6587) or `lf`.
    #[serde(default = "default_framing")]
    pub framing: Framing,
    /// Events waiting for this destination; more are dropped and counted as overflow.
    #[serde(default = "default_queue")]
    pub queue: NonZeroUsize,
    /// Messages per send call (`sendmmsg` or one vectored write).
    #[serde(default = "default_batch")]
    pub batch: NonZeroUsize,
    /// Once the queue is empty and the batch not full, how long the batch may wait for more
    /// events, in milliseconds counted from its first event. 0 (default): send as soon as
    /// the queue is empty; batches still form under load from what queues during a send.
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u64,
    /// First reconnect delay in milliseconds; doubles after each failure.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Connect (and TLS handshake) timeout in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// A write blocked longer than this many milliseconds counts as a broken connection.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// TLS settings (transport `tls` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// `[sink.tls]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that may sign the server's certificate;
    /// default: the system's trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for receivers that authenticate clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against; default: the address's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

fn default_name() -> String {
    "syslog".into()
}
fn default_transport() -> Transport {
    Transport::Udp
}
fn default_address() -> Address {
    Address {
        host: "127.0.0.1".into(),
        port: 514,
    }
}
fn default_format() -> Format {
    Format::SflowRt
}
fn default_facility() -> Facility {
    Facility(16)
}
fn default_severity() -> Severity {
    Severity(5)
}
fn default_sd_id() -> SdId {
    SdId("sflow-rt@4300".into())
}
fn default_framing() -> Framing {
    Framing::OctetCounting
}
fn default_queue() -> NonZeroUsize {
    NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)
}
fn default_batch() -> NonZeroUsize {
    NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN)
}
fn default_flush_ms() -> u64 {
    // Waiting for company costs every event at low and moderate rates up to the whole delay
    // (issue 5's target is a receipt-to-send p99 under 2 ms), and buys nothing under load,
    // where the queue does not empty and batches fill by themselves.
    0
}
fn default_reconnect_min_ms() -> u64 {
    100
}
fn default_reconnect_max_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    3_000
}
fn default_write_timeout_ms() -> u64 {
    5_000
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            name: default_name(),
            transport: default_transport(),
            address: default_address(),
            format: default_format(),
            facility: default_facility(),
            severity: default_severity(),
            hostname: None,
            sd_id: default_sd_id(),
            flows: Vec::new(),
            fields: Vec::new(),
            framing: default_framing(),
            queue: default_queue(),
            batch: default_batch(),
            flush_ms: default_flush_ms(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            write_timeout_ms: default_write_timeout_ms(),
            tls: None,
        }
    }
}

impl SinkConfig {
    /// Checks that involve several fields. `flow_names` are the defined flows.
    pub fn validate(&self, flow_names: &[&str]) -> Result<(), String> {
        if self.tls.is_some() && self.transport != Transport::Tls {
            return Err(format!(
                "sink '{}': a [sink.tls] table needs transport = \"tls\" (it is \"{}\")",
                self.name,
                self.transport.name()
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err(format!(
                    "sink '{}': tls.cert_file and tls.key_file go together",
                    self.name
                ));
            }
        }
        for f in &self.flows {
            if !flow_names.contains(&f.as_str()) {
                return Err(format!(
                    "sink '{}': flow '{f}' is not defined; defined flows: {}",
                    self.name,
                    list(flow_names)
                ));
            }
        }
        if self.flush_ms > 60_000 {
            return Err(format!(
                "sink '{}': flush_ms = {} is more than a minute; expected 0..=60000",
                self.name, self.flush_ms
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(format!(
                "sink '{}': need 0 < reconnect_min_ms <= reconnect_max_ms",
                self.name
            ));
        }
        Ok(())
    }

    /// Parse a `--syslog` URL (`udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT`).
    pub fn parse_url(url: &str) -> Result<(Transport, Address), String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("'{url}': expected udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")
        })?;
        let transport = match scheme {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => {
                return Err(format!(
                    "'{url}': unknown scheme '{scheme}', expected udp, tcp or tls"
                ))
            }
        };
        let address = Address::parse(rest).map_err(|e| {
            // Name the whole URL the user wrote, not only its address part.
            let rest_quoted = format!("'{rest}'");
            format!("'{url}': {}", e.replacen(&rest_quoted, "address", 1))
        })?;
        Ok((transport, address))
    }

    /// The destination's fields as formatter fields.
    pub fn format_fields(&self) -> Vec<Field> {
        self.fields.iter().map(|f| f.0).collect()
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `HOST:PORT`, kept as text so a name is resolved again at each reconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// A name, an IPv4 address, or an IPv6 address (without brackets).
    pub host: String,
    pub port: u16,
}

impl Address {
    pub fn parse(s: &str) -> Result<Address, String> {
        let bad = || format!("'{s}': expected HOST:PORT (IPv6 as [ADDR]:PORT)");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (h, p)
        } else {
            s.rsplit_once(':').ok_or_else(bad)?
        };
        if host.is_empty() || host.contains(':') && !s.starts_with('[') {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(format!("'{s}': port 0 is not a destination"));
        }
        Ok(Address {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Implement Serialize/Deserialize through the text form, reporting `expected` on error.
macro_rules! text_serde {
    ($ty:ty, $parse:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_serde!(Address, Address::parse);

/// Syslog facility (RFC 5424 table 1), 0..=23.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl Facility {
    pub fn parse(s: &str) -> Result<Facility, String> {
        parse_level(s, &FACILITIES, "facility").map(Facility)
    }
}

/// Syslog severity (RFC 5424 table 2), 0..=7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Severity(pub u8);

impl Severity {
    pub fn parse(s: &str) -> Result<Severity, String> {
        parse_level(s, &SEVERITIES, "severity").map(Severity)
    }
}

fn parse_level(s: &str, names: &[&str], what: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        if usize::from(n) < names.len() {
            return Ok(n);
        }
    }
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .map(|i| i as u8)
        .ok_or_else(|| {
            format!(
                "invalid {what} '{s}': expected 0..={} or one of {}",
                names.len() - 1,
                names.join(", ")
            )
        })
}

/// Accept a TOML integer or string for facility and severity; print the number.
macro_rules! level_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u8(self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    N(i64),
                    S(String),
                }
                let text = match Raw::deserialize(d)? {
                    Raw::N(n) => n.to_string(),
                    Raw::S(s) => s,
                };
                $ty::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
level_serde!(Facility);
level_serde!(Severity);

/// A host name for the HOST field: 1..=255 printable ASCII characters, no spaces
/// (RFC 5424 HOSTNAME is PRINTUSASCII; a space would end the field in RFC 3164 parsers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostName(pub String);

impl HostName {
    pub fn parse(s: &str) -> Result<HostName, String> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(format!(
                "invalid hostname '{s}': expected 1 to 255 printable ASCII characters without spaces"
            ));
        }
        Ok(HostName(s.to_string()))
    }

    /// This machine's host name (`gethostname`), or `localhost` when it is unusable.
    pub fn system() -> HostName {
        let mut buf = [0u8; 256];
        // SAFETY: the pointer and length describe `buf`, which gethostname may fill.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = std::str::from_utf8(&buf[..len]).unwrap_or("");
        if rc != 0 {
            return HostName("localhost".into());
        }
        HostName::parse(name).unwrap_or_else(|_| HostName("localhost".into()))
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
text_serde!(HostName, HostName::parse);

/// An RFC 5424 SD-ID: 1..=32 printable ASCII characters except `=`, space, `]` and `"`;
/// a custom ID must be `name@<private enterprise number>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdId(pub String);

impl SdId {
    pub fn parse(s: &str) -> Result<SdId, String> {
        let chars_ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'));
        let shape_ok = match s.split_once('@') {
            Some((name, pen)) => {
                !name.is_empty()
                    && !pen.is_empty()
                    && !pen.contains('@')
                    && pen.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            }
            None => false,
        };
        if chars_ok && shape_ok {
            Ok(SdId(s.to_string()))
        } else {
            Err(format!(
                "invalid sd_id '{s}': expected NAME@NUMBER, at most 32 printable ASCII characters without '=', ']', '\"' or spaces"
            ))
        }
    }
}

impl fmt::Display for SdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
text_serde!(SdId, SdId::parse);

/// A field name from `fields = [...]`, checked against keys and record fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldName(pub Field);

impl FieldName {
    pub fn parse(s: &str) -> Result<FieldName, String> {
        Field::from_name(s).map(FieldName).ok_or_else(|| {
            let keys: Vec<&str> = crate::packet::Key::ALL.iter().map(|k| k.name()).collect();
            format!(
                "unknown field '{s}': expected a flow key ({}) or a record field ({})",
                keys.join(", "),
                Field::RECORD_FIELDS.join(", ")
            )
        })
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}
text_serde!(FieldName, FieldName::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed() {
        let c: SinkConfig = toml::from_str("").unwrap();
        assert_eq!(c, SinkConfig::default());
        assert_eq!(c.transport, Transport::Udp);
        assert_eq!(c.address.to_string(), "127.0.0.1:514");
        assert_eq!((c.facility.0, c.severity.0), (16, 5));
        assert_eq!(c.format, Format::SflowRt);
    }

    #[test]
    fn names_and_numbers_for_levels() {
        let c: SinkConfig = toml::from_str("facility = \"local3\"\nseverity = 2").unwrap();
        assert_eq!((c.facility.0, c.severity.0), (19, 2));
        let e = toml::from_str::<SinkConfig>("facility = 24").unwrap_err();
        assert!(e.to_string().contains("expected 0..=23"), "{e}");
        let e = toml::from_str::<SinkConfig>("severity = \"loud\"").unwrap_err();
        assert!(e.to_string().contains("notice"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e = toml::from_str::<SinkConfig>("adress = \"x:1\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `adress`"), "{e}");
        let e = toml::from_str::<SinkConfig>("fields = [\"ipsrc\"]").unwrap_err();
        assert!(e.to_string().contains("unknown field 'ipsrc'"), "{e}");
        let e = toml::from_str::<SinkConfig>("queue = 0").unwrap_err();
        assert!(e.to_string().contains("nonzero"), "{e}");
        let e = toml::from_str::<SinkConfig>("sd_id = \"a b@1\"").unwrap_err();
        assert!(e.to_string().contains("sd_id"), "{e}");
        let e = toml::from_str::<SinkConfig>("hostname = \"a b\"").unwrap_err();
        assert!(e.to_string().contains("hostname"), "{e}");
        let e = toml::from_str::<SinkConfig>("[tls]\nca = \"x\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `ca`"), "{e}");
    }

    #[test]
    fn addresses_and_urls() {
        assert_eq!(
            Address::parse("[::1]:6514").unwrap(),
            Address {
                host: "::1".into(),
                port: 6514
            }
        );
        assert_eq!(
            Address::parse("[::1]:6514").unwrap().to_string(),
            "[::1]:6514"
        );
        assert!(Address::parse("::1:514").is_err());
        assert!(Address::parse("host").is_err());
        assert!(Address::parse("host:0").is_err());
        assert!(Address::parse(":514").is_err());
        let (t, a) = SinkConfig::parse_url("tls://siem.example:6514").unwrap();
        assert_eq!(
            (t, a.host.as_str(), a.port),
            (Transport::Tls, "siem.example", 6514)
        );
        assert!(SinkConfig::parse_url("http://x:1").is_err());
        assert!(SinkConfig::parse_url("x:1").is_err());
        // The error quotes the whole URL as given.
        let e = SinkConfig::parse_url("udp://bad host:x").unwrap_err();
        assert!(
            e.starts_with("'udp://bad host:x': address: expected HOST:PORT"),
            "{e}"
        );
    }

    #[test]
    fn cross_field_checks() {
        let mut c = SinkConfig {
            tls: Some(TlsConfig::default()),
            ..SinkConfig::default()
        };
        assert!(c
            .validate(&["uport"])
            .unwrap_err()
            .contains("transport = \"tls\""));
        c.transport = Transport::Tls;
        assert!(c.validate(&["uport"]).is_ok());
        c.flows = vec!["nope".into()];
        assert!(c
            .validate(&["uport"])
            .unwrap_err()
            .contains("defined flows: uport"));
    }

    #[test]
    fn round_trips_through_toml() {
        let src = "name = \"siem\"\ntransport = \"tls\"\naddress = \"[::1]:6514\"\n\
                   format = \"rfc5424\"\nfields = [\"ipsource\", \"flowID\"]\nframing = \"lf\"\n\
                   [tls]\nca_file = \"/etc/ca.pem\"\n";
        let c: SinkConfig = toml::from_str(src).unwrap();
        let back: SinkConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(c, back);
    }
}
