//! TLS transport (RFC 5425) against a rustls server run by the test, with certificates made
//! by the test: the server is verified against a CA file, the client authenticates with its
//! own certificate, and a server the CA did not sign is refused (events counted as dropped,
//! never sent in clear).

mod syslog_support;

use std::io::{BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use flowsift::clock::monotonic_nanos;
use flowsift::flow::FlowEvent;
use flowsift::packet::{Key, KeyValue, L4};
use flowsift::ring::ring;
use flowsift::sink::config::{Address, HostName, TlsConfig, Transport};
use flowsift::sink::{SinkConfig, SyslogSink};
use rcgen::KeyPair;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use syslog_support::Ca;

fn der_key(k: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()))
}

/// A one-connection TLS syslog receiver requiring a client certificate from `client_ca`;
/// sends each octet-counted frame it reads to the channel.
fn serve(
    server_ca: &Ca,
    client_ca: &Ca,
) -> (u16, mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert, key) = server_ca.leaf("syslog server");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca.cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone(), server_ca.cert.der().clone()],
            der_key(&key),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let Ok((sock, _)) = listener.accept() else {
            return;
        };
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = BufReader::new(rustls::StreamOwned::new(conn, sock));
        // RFC 6587 octet counting: LEN SP MSG.
        loop {
            let mut len = Vec::new();
            let mut b = [0u8; 1];
            loop {
                match tls.read(&mut b) {
                    Ok(1) if b[0] == b' ' => break,
                    Ok(1) => len.push(b[0]),
                    _ => return,
                }
            }
            let n: usize = std::str::from_utf8(&len).unwrap().parse().unwrap();
            let mut msg = vec![0u8; n];
            if tls.read_exact(&mut msg).is_err() {
                return;
            }
            if tx.send(String::from_utf8(msg).unwrap()).is_err() {
                return;
            }
        }
    });
    (port, rx, handle)
}

fn write_pem(dir: &Path, name: &str, pem: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

fn event(i: u16) -> FlowEvent {
    FlowEvent {
        flow_id: u64::from(i),
        name: "uport".into(),
        keys: vec![
            (Key::IpSource, KeyValue::Ip([10, 0, 0, 5].into())),
            (Key::IpDestination, KeyValue::Ip([10, 0, 0, 9].into())),
            (Key::IcmpUnreachablePort, KeyValue::Port(L4::Udp, i)),
        ]
        .into_iter()
        .map(|(k, v)| (flowsift::flow::FlowKey::Packet(k), v))
        .collect(),
        separator: ",".into(),
        value: 1.0,
        start_ms: 0,
        end_ms: 0,
        agent: [192, 0, 2, 1].into(),
        data_source: 1,
        received_ns: monotonic_nanos(),
        event_id: 0,
        threshold: None,
    }
}

fn tls_sink(port: u16, tls: TlsConfig) -> SinkConfig {
    SinkConfig {
        name: "tls".into(),
        transport: Transport::Tls,
        address: Address {
            host: "127.0.0.1".into(),
            port,
        },
        hostname: Some(HostName("tls-test".into())),
        tls: Some(tls),
        reconnect_min_ms: 20,
        reconnect_max_ms: 100,
        ..SinkConfig::default()
    }
}

#[test]
fn tls_with_ca_file_and_client_certificate_delivers_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let (client_cert, client_key) = client_ca.leaf("flowsift");
    let (port, rx, server) = serve(&server_ca, &client_ca);
    let tls = TlsConfig {
        ca_file: Some(write_pem(dir.path(), "ca.pem", &server_ca.cert.pem())),
        cert_file: Some(write_pem(dir.path(), "client.pem", &client_cert.pem())),
        key_file: Some(write_pem(
            dir.path(),
            "client.key",
            &client_key.serialize_pem(),
        )),
        server_name: None,
    };
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[tls_sink(port, tls)], vec![c]).unwrap();
    for i in 0..300 {
        p.push(event(i)).unwrap();
    }
    for i in 0..300 {
        let m = rx.recv_timeout(Duration::from_secs(10)).expect("message");
        assert!(m.starts_with("<133>"), "{m}");
        assert!(
            m.ends_with(&format!(
                " tls-test sflow-rt: ipsource=10.0.0.5 ipdestination=10.0.0.9 icmpunreachableport=\"udp_{i}\""
            )),
            "{m}"
        );
    }
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_eq!(stats.destinations[0].sent, 300, "{stats}");
    drop(stats);
    let _ = server.join();
}

#[test]
fn server_not_signed_by_the_ca_is_refused_and_events_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let other_ca = Ca::new("some other CA");
    let client_ca = Ca::new("client CA");
    let (port, rx, _server) = serve(&server_ca, &client_ca);
    let tls = TlsConfig {
        ca_file: Some(write_pem(dir.path(), "other.pem", &other_ca.cert.pem())),
        ..TlsConfig::default()
    };
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[tls_sink(port, tls)], vec![c]).unwrap();
    for i in 0..20 {
        p.push(event(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(p);
    let stats = sink.shutdown(Duration::from_millis(200));
    let d = &stats.destinations[0];
    assert_eq!(d.sent, 0, "{stats}");
    assert!(d.errors >= 1, "{stats}");
    assert_eq!(d.dropped + d.overflow, 20, "{stats}");
    assert!(
        rx.try_recv().is_err(),
        "nothing may reach an unverified server"
    );
}

#[test]
fn missing_client_key_file_stops_start_up_with_the_path() {
    let cfg = tls_sink(
        6514,
        TlsConfig {
            ca_file: None,
            cert_file: Some("/nonexistent/client.pem".into()),
            key_file: Some("/nonexistent/client.key".into()),
            server_name: None,
        },
    );
    let (_p, c) = ring::<FlowEvent>(4);
    let e = SyslogSink::start(&[cfg], vec![c]).err().unwrap();
    // With no CA file the system roots are used; either they are missing (an error saying
    // so) or the client certificate path is reported.
    assert!(
        e.contains("/nonexistent/client.pem") || e.contains("no CA certificate"),
        "{e}"
    );
}
