//! The sFlow corpus (`tests/data/sflow/`, found by `flowsift::testdata`) as a list of raw
//! datagrams.
//!
//! Raw files (`.bin`, `.dat`, `.data`) are one datagram each; classic pcap files (the only
//! capture format in the corpus) hold one per packet, as the UDP payload of IPv4 or IPv6,
//! read with the library's own capture reader (`flowsift::capture`); a malformed
//! capture keeps the datagrams read before the damage.

pub use flowsift::testdata::corpus_dir;

/// One datagram and where it came from.
pub struct Datagram {
    pub file: String,
    pub index: usize,
    pub bytes: Vec<u8>,
}

/// Every datagram of the corpus, files in sorted order. Panics (through
/// `flowsift::testdata::corpus_files`) when the corpus is missing or empty.
pub fn datagrams() -> Vec<Datagram> {
    let dir = corpus_dir();
    let mut out = Vec::new();
    for rel in flowsift::testdata::corpus_files() {
        let name = rel.display().to_string();
        let path = dir.join(&rel);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("corpus file {} unreadable: {e}", path.display()));
        if flowsift::testdata::is_raw(&path) {
            out.push(Datagram {
                file: name,
                index: 0,
                bytes,
            });
        } else {
            for (index, payload) in pcap_udp_payloads(&bytes).into_iter().enumerate() {
                out.push(Datagram {
                    file: name.clone(),
                    index,
                    bytes: payload,
                });
            }
        }
    }
    out
}

/// UDP payloads of a pcap or pcapng capture, whatever their port, in capture order.
pub fn pcap_udp_payloads(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // A damaged capture ends the walk; what came before it is kept.
    let _ = flowsift::capture::for_each_datagram(
        file,
        flowsift::capture::PortFilter::Any,
        |_, payload| out.push(payload.to_vec()),
    );
    out
}
