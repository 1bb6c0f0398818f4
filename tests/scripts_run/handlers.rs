//! Handlers at run time: a flow handler that throws is logged and the script goes on, one
//! that never returns is cut by the deadline and counted, and an interval handler reads
//! `-D` properties from a script named by `-Dscript.file`.

use std::ffi::OsStr;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::run_support::{datagram, free_udp_port, unreachable};
use crate::util::{receive, scan_datagrams, scripted, send_all, start};

const HANDLER_PRELUDE: &str = "var keys = ['ipsource','ipdestination','icmpunreachableport'];\n\
setFlow('uport', {keys:keys, value:'frames', log:true, flowStart:true});\n";

#[test]
fn a_handler_that_throws_is_logged_and_the_script_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{HANDLER_PRELUDE}setFlowHandler(function(rec) {{\n\
         if (rec.flowKeys.indexOf('udp_1000') >= 0) throw new Error('cannot handle ' + rec.flowKeys);\n\
         syslog('127.0.0.1', PORT, 16, 5, {{keys: rec.flowKeys}});\n}}, ['uport']);\n"
    );
    let (mut c, rx, listen) = scripted(dir.path(), &script);
    send_all(listen, &scan_datagrams());
    // Three agents each see udp_1000: three throws, 57 lines.
    let lines = receive(&rx, 57, Duration::from_secs(15));
    assert_eq!(lines.len(), 57, "{lines:#?}");
    assert!(receive(&rx, 1, Duration::from_millis(300)).is_empty());
    // Still running: more records after the throws are handled.
    send_all(
        listen,
        &[datagram(
            "192.0.2.9",
            1,
            4,
            &[unreachable("10.7.0.1", "198.51.100.8", 17, 53)],
        )],
    );
    let more = receive(&rx, 1, Duration::from_secs(10));
    assert_eq!(more.len(), 1);
    assert!(
        more[0].ends_with("keys=\"10.7.0.1,198.51.100.8,udp_53\""),
        "{more:?}"
    );
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines.iter().any(|l| l.contains("flow handler threw")
            && l.contains("app.js:4")
            && l.contains("cannot handle 10.0.0.1,198.51.100.7,udp_1000")),
        "{:#?}",
        c.lines
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("handler errors 3, interrupted 0")),
        "{:#?}",
        c.lines
    );
}

#[test]
fn a_handler_that_never_returns_is_interrupted_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{HANDLER_PRELUDE}setFlowHandler(function(rec) {{\n\
         if (rec.flowKeys.indexOf('udp_1000') >= 0) {{ var n = 0; while (true) {{ n++; }} }}\n\
         syslog('127.0.0.1', PORT, 16, 5, {{keys: rec.flowKeys}});\n}}, ['uport']);\n"
    );
    let (mut c, rx, listen) = scripted(dir.path(), &script);
    let started = Instant::now();
    send_all(listen, &scan_datagrams());
    let lines = receive(&rx, 57, Duration::from_secs(15));
    assert_eq!(lines.len(), 57, "{lines:#?}");
    // Three loops of 100 ms each, not an endless stall.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("handler errors 0, interrupted 3")),
        "{:#?}",
        c.lines
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("flow handler interrupted")),
        "{:#?}",
        c.lines
    );
}

#[test]
fn properties_reach_get_system_property_and_script_file_runs_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let path = dir.path().join("props.js");
    std::fs::write(
        &path,
        "var port = parseInt(getSystemProperty('siem.port'));\n\
         setIntervalHandler(function(now) {\n\
           syslog(getSystemProperty('siem.host'), port, 16, 6, {who: getSystemProperty('who'), missing: String(getSystemProperty('none'))});\n\
         }, 0.2);\n",
    )
    .unwrap();
    let listen = free_udp_port();
    let defines = [
        format!("-Dscript.file={}", path.display()),
        "-Dsiem.host=127.0.0.1".to_string(),
        format!("-Dsiem.port={}", rx.local_addr().unwrap().port()),
        "-Dwho=a b".to_string(),
    ];
    let listen_arg = format!("127.0.0.1:{listen}");
    let mut args: Vec<&OsStr> = vec!["--listen".as_ref(), listen_arg.as_ref()];
    args.extend(defines.iter().map(|d| -> &OsStr { d.as_ref() }));
    let mut c = start(&args);
    let lines = receive(&rx, 1, Duration::from_secs(10));
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert_eq!(lines.len(), 1, "{:#?}", c.lines);
    assert!(lines[0].starts_with("<134>"), "{}", lines[0]);
    assert!(
        lines[0].ends_with(" sflow-rt: who=\"a b\" missing=null"),
        "{}",
        lines[0]
    );
}
