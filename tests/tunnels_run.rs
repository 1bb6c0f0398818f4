//! `flowsift run` with flows on the keys inside tunnels: VXLAN-encapsulated ICMP
//! port-unreachable answers (a scan inside the overlay) sent over loopback give exactly one
//! syslog line per tenant (responder, scanner, port), in sFlow-RT's format with the `.1`
//! key names as configured; plain (untunnelled) answers and other tenant traffic give none.
//! The syslog side is a UDP socket in the test.

mod packet_support;
use packet_support::frames;
mod run_support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use flowsift::synth::{FrameSpec, Transport};
use run_support::{datagram, free_udp_port, ip, unreachable, Collector};

#[test]
fn tenant_scan_inside_vxlan_gives_one_line_per_port() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let siem = UdpSocket::bind("127.0.0.1:0").unwrap();
    siem.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let siem_port = siem.local_addr().unwrap().port();
    let config = dir.path().join("tunnels.toml");
    std::fs::write(
        &config,
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
             [shutdown]\ntimeout_ms = 2000\n\
             [[flow]]\nname = \"tenantuport\"\n\
             [[flow]]\nname = \"bytenant\"\nkeys = \"vxlanvni,ipsource.1,icmpunreachableport.1\"\n\
             value = \"frames\"\nlog = true\nflowStart = true\nfilter = \"ipdestination.1=10.0.201.1\"\n\
             [[sink]]\ntransport = \"udp\"\naddress = \"127.0.0.1:{siem_port}\"\n"
        ),
    )
    .unwrap();
    let mut c = Collector::start_listening(&config);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = 0;
    let mut send = |frames: &[Vec<u8>]| {
        seq += 1;
        sock.send_to(
            &datagram("192.0.2.10", seq, 3, frames),
            ("127.0.0.1", listen),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    };
    for port in [20014, 20015, 20016] {
        let answer = unreachable("10.0.201.2", "10.0.201.1", 17, port);
        // Each answer sampled twice (one event each), and a plain one that `.1` never sees.
        send(&[
            frames::vxlan_frame(10001, &answer),
            frames::vxlan_frame(10001, &answer),
            unreachable("10.9.9.9", "10.8.8.8", 17, port),
        ]);
    }
    // Tenant traffic that is no unreachable, and one to another scanner (filtered out of
    // `bytenant`, kept by `tenantuport`).
    let web = FrameSpec::new(
        ip("10.0.201.5"),
        ip("10.0.201.6"),
        Transport::Tcp {
            src_port: 40000,
            dst_port: 443,
            flags: 0x02,
        },
    )
    .to_ethernet();
    send(&[
        frames::vxlan_frame(10001, &web),
        frames::vxlan_frame(10002, &unreachable("10.0.202.2", "10.0.202.9", 6, 22)),
    ]);

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while got.len() < 7 && Instant::now() < deadline {
        if let Ok(n) = siem.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    // Nothing more comes.
    let quiet = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet {
        if let Ok(n) = siem.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);

    let messages: Vec<String> = got
        .iter()
        .map(|l| {
            // `<133>Mmm dd HH:MM:SS host sflow-rt: ` then the pairs.
            assert!(l.starts_with("<133>"), "{l}");
            let (head, msg) = l.split_once(" sflow-rt: ").unwrap_or_else(|| panic!("{l}"));
            let ts = head.as_bytes();
            assert!(
                ts.len() > 21
                    && ts[8] == b' '
                    && ts[14] == b':'
                    && ts[17] == b':'
                    && ts[20] == b' ',
                "{l}"
            );
            msg.to_owned()
        })
        .collect();
    let mut want: Vec<String> = Vec::new();
    for port in [20014, 20015, 20016] {
        want.push(format!(
            "ipsource.1=10.0.201.2 ipdestination.1=10.0.201.1 icmpunreachableport.1=\"udp_{port}\""
        ));
        want.push(format!(
            "vxlanvni=10001 ipsource.1=10.0.201.2 icmpunreachableport.1=\"udp_{port}\""
        ));
    }
    want.push(
        "ipsource.1=10.0.202.2 ipdestination.1=10.0.202.9 icmpunreachableport.1=\"tcp_22\""
            .to_owned(),
    );
    let mut sorted = messages.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "{got:#?}");
    assert_eq!(
        messages.iter().collect::<BTreeSet<_>>().len(),
        messages.len(),
        "one line per flow"
    );
}
