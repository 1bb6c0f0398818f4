//! sFlow-RT applications run by `flowsift run --script`: the seed `syslog.js` against the
//! built-in `uport` (the same lines, byte for byte but for the time stamp), a DDoS script
//! (`setThreshold`, `setEventHandler`) against the same `[[threshold]]` configuration, a
//! blocklist script (`setGroups`, a `group:` filter), and the bad inputs: a script that
//! throws at load, one that calls a function flowsift lacks, bad threshold and group
//! specs, a handler that throws, a handler that never returns; and configuring after
//! load: a blocklist replaced by an interval handler, a flow set by an event handler, a
//! bad spec thrown with its reason, a tight loop of calls coalesced, names the
//! configuration file defines, a set it refuses, a flow it gains by SIGHUP, and a flow set
//! from a handler kept from the catch-all sink.

mod run_support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use run_support::flood::{flood, frame};
use run_support::{datagram, free_udp_port, unreachable, Collector};

/// The seed script as shipped in tests/data/scripts, `server` and `port` edited.
fn seed_script(dir: &Path, port: u16) -> PathBuf {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scripts/syslog.js");
    let seed = std::fs::read_to_string(path).expect("tests/data/scripts/syslog.js");
    let first = "var server = '10.0.0.1'; var port = 514;";
    assert!(seed.starts_with(first), "the seed's first line changed");
    let edited = seed.replacen(
        first,
        &format!("var server = '127.0.0.1'; var port = {port};"),
        1,
    );
    let out = dir.join("syslog.js");
    std::fs::write(&out, edited).unwrap();
    out
}

/// 60 port-unreachable answers (30 UDP, 30 TCP; three agents), each seen twice, among
/// noise: 60 distinct (agent, data source, key) flows.
fn scan_datagrams() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = 1;
    for agent in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        for chunk in 0..4u16 {
            let mut frames = Vec::new();
            for p in 0..5u16 {
                let port = 1000 + chunk * 5 + p;
                let proto = if port % 2 == 0 { 17 } else { 6 };
                let responder = format!("10.0.{}.{}", chunk, p + 1);
                frames.push(unreachable(&responder, "198.51.100.7", proto, port));
            }
            // Noise: an answer quoting GRE (no port), which no flow takes.
            frames.push(unreachable("10.9.9.9", "198.51.100.7", 47, 0));
            for _ in 0..2 {
                out.push(datagram(agent, seq, 3, &frames));
                seq += 1;
            }
        }
    }
    out
}

fn send_all(port: u16, datagrams: &[Vec<u8>]) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in datagrams {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Datagrams arriving on `sock` until `n` came or `timeout` passed.
fn receive(sock: &UdpSocket, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while out.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(len) => out.push(String::from_utf8_lossy(&buf[..len]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

/// The line without its time stamp (`<133>` + 15 characters): the rest must be equal.
fn untimed(line: &str) -> String {
    let (pri, rest) = line.split_at(line.find('>').map_or(0, |i| i + 1));
    format!("{pri}{}", rest.get(15..).unwrap_or(""))
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn start(args: &[&OsStr]) -> Collector {
    let mut c = Collector::start_args(args);
    assert!(
        c.wait_for("listening on", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    c
}

#[test]
fn seed_script_sends_the_lines_of_the_built_in_uport() {
    let dir = tempfile::tempdir().unwrap();
    let builtin_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let script_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (listen_a, listen_b) = (free_udp_port(), free_udp_port());
    let builtin = write_config(
        dir.path(),
        "builtin.toml",
        &format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen_a}\"]\n[stats]\ninterval_s = 0\n[[sink]]\naddress = \"{}\"\n",
            builtin_rx.local_addr().unwrap()
        ),
    );
    // No [[flow]], no [[sink]]: the script alone defines them.
    let scripted = write_config(
        dir.path(),
        "scripted.toml",
        &format!("[rx]\nlisten = [\"127.0.0.1:{listen_b}\"]\n[stats]\ninterval_s = 0\n"),
    );
    let script = seed_script(dir.path(), script_rx.local_addr().unwrap().port());
    let mut a = Collector::start_listening(&builtin);
    let mut b = start(&[
        "--config".as_ref(),
        scripted.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    assert!(
        b.lines
            .iter()
            .any(|l| l.contains("1 flow definition(s)") && l.contains("no sink")),
        "the script's uport only, no default sink: {:#?}",
        b.lines
    );
    let datagrams = scan_datagrams();
    send_all(listen_a, &datagrams);
    send_all(listen_b, &datagrams);
    let from_builtin = receive(&builtin_rx, 60, Duration::from_secs(15));
    let from_script = receive(&script_rx, 60, Duration::from_secs(15));
    // Nothing more arrives: each key is logged once.
    assert!(receive(&script_rx, 1, Duration::from_millis(300)).is_empty());
    assert_eq!(
        a.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert_eq!(
        b.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );

    assert_eq!(from_builtin.len(), 60, "{from_builtin:#?}");
    let count = |lines: &[String]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for l in lines {
            *m.entry(untimed(l)).or_default() += 1;
        }
        m
    };
    assert_eq!(count(&from_script), count(&from_builtin));
    assert!(
        from_script[0].starts_with("<133>") && from_script[0].contains(" sflow-rt: ipsource=10.0."),
        "{}",
        from_script[0]
    );
    assert!(
        from_script
            .iter()
            .any(|l| l.ends_with("ipdestination=198.51.100.7 icmpunreachableport=\"udp_1000\"")),
        "{from_script:#?}"
    );
    assert!(
        b.lines
            .iter()
            .any(|l| l.contains("handled 60,") && l.contains("syslog sent 60,")),
        "{:#?}",
        b.lines
    );
}

/// `flowsift run` with only `script` (and a listen address): its exit code and stderr.
fn run_to_exit(dir: &Path, script: &str) -> (Option<i32>, String, PathBuf) {
    run_to_exit_with(dir, None, script)
}

/// `flowsift run` with `script`, beside the configuration file `config` when given.
fn run_to_exit_with(
    dir: &Path,
    config: Option<&Path>,
    script: &str,
) -> (Option<i32>, String, PathBuf) {
    let path = dir.join("app.js");
    std::fs::write(&path, script).unwrap();
    let mut cmd = run_support::flowsift();
    cmd.args(["run", "--listen", "127.0.0.1:0"]);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let out = cmd.arg("--script").arg(&path).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
    )
}

#[test]
fn a_script_that_throws_at_load_stops_start_up_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, path) = run_to_exit(
        dir.path(),
        "var a = 1;\nsetFlow('x', {keys:'ipsource', log:true});\nthrow new Error('no SIEM configured');\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3: Error: no SIEM configured", path.display())),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");

    let (code, err, path) = run_to_exit(
        dir.path(),
        "setFlow('x', {keys:'ipsource',\n  value:'frames' flowStart:true});\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:2: SyntaxError", path.display())),
        "{err}"
    );

    // A spec the flow engine refuses is an error at load, with the attribute named.
    let (code, err, path) = run_to_exit(
        dir.path(),
        "\n\nsetFlow('x', {keys:'ipsource', nosuch:1});\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3:", path.display())) && err.contains("nosuch"),
        "{err}"
    );
}

#[test]
fn a_call_flowsift_lacks_fails_at_load_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, path) = run_to_exit(
        dir.path(),
        "setFlow('x', {keys:'ipsource', log:true});\nsetFlowHandler(function(rec) {\n  var n = topologyNodeNames();\n  logInfo(n);\n}, ['x']);\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3: topologyNodeNames() is not supported",
            path.display()
        )),
        "{err}"
    );
    // An sFlow-RT function outside the supported set is refused even where a supported
    // one shares its prefix.
    let (code, err, _) = run_to_exit(
        dir.path(),
        "setFlow('udp', {keys:'ipdestination', value:'frames'});\nsetThresholdAlert('ddos');\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(":2: setThresholdAlert() is not supported"),
        "{err}"
    );
    // Functions the script defines itself, parameters and methods are not refused.
    let (mut c, _, _) = scripted(
        dir.path(),
        "function helper(f) { return f(1); }\nvar o = { m(x) { return x; } };\n\
         helper(function(v) { return o.m(v); });\nlogInfo('property: ' + getSystemProperty('nope'));\n",
    );
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.ends_with("app.js: INFO: property: null")),
        "{:#?}",
        c.lines
    );
}

/// A collector running `script`, its syslog receiver, and where it listens.
fn scripted(dir: &Path, script: &str) -> (Collector, UdpSocket, u16) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let path = dir.join("app.js");
    std::fs::write(
        &path,
        script.replace("PORT", &rx.local_addr().unwrap().port().to_string()),
    )
    .unwrap();
    let listen = free_udp_port();
    let listen_arg = format!("127.0.0.1:{listen}");
    let c = start(&[
        "--listen".as_ref(),
        listen_arg.as_ref(),
        "--stats-interval".as_ref(),
        "1".as_ref(),
        "--script".as_ref(),
        path.as_os_str(),
    ]);
    (c, rx, listen)
}

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

/// The DDoS application: a UDP flow by destination, a byFlow threshold on it and one on
/// interface utilization, events sent with `syslog` as the sink's sFlow-RT format prints
/// them.
const DDOS_JS: &str = "setFlow('udpflood', {keys:'ipdestination', value:'frames', filter:'ipprotocol=17'});
setThreshold('flood', {metric:'udpflood', value:100000, byFlow:true, timeout:60});
setThreshold('hotlink', {metric:'ifinutilization', value:80});
setEventHandler(function(evt) {
  logInfo('event fields ' + Object.keys(evt).join(',') + ' id ' + typeof evt.eventID
    + ' age ' + (Math.abs(Date.now() - evt.timestamp) < 60000));
  var msg = {thresholdID:evt.thresholdID, metric:evt.metric, agent:evt.agent, dataSource:evt.dataSource};
  if (evt.flowKey) msg.flowKey = evt.flowKey;
  msg.value = Math.floor(evt.value);
  msg.threshold = evt.threshold;
  syslog('127.0.0.1', PORT, 16, 5, msg);
}, ['flood', 'hotlink']);
";

/// Lines read from `sock` for `wait`.
fn drain(sock: &UdpSocket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

/// `line` untimed with its `value=` masked, and the value.
fn masked_value(line: &str) -> (String, f64) {
    let line = untimed(line);
    let (head, tail) = line
        .split_once(" value=")
        .unwrap_or_else(|| panic!("{line}"));
    let (value, rest) = tail.split_once(' ').unwrap_or((tail, ""));
    let v = value.parse().unwrap_or_else(|_| panic!("{line}"));
    (format!("{head} value=V {rest}"), v)
}

#[test]
fn ddos_script_gives_the_events_of_the_same_threshold_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let native_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (listen_a, listen_b) = (free_udp_port(), free_udp_port());
    let native = write_config(
        dir.path(),
        "native.toml",
        &format!(
            r#"[rx]
listen = ["127.0.0.1:{listen_a}"]
[stats]
interval_s = 0
[[flow]]
name = "udpflood"
keys = "ipdestination"
value = "frames"
filter = "ipprotocol=17"
[[threshold]]
name = "flood"
metric = "udpflood"
value = 100000
byFlow = true
[[threshold]]
name = "hotlink"
metric = "ifinutilization"
value = 80
[[sink]]
address = "{}"
flows = ["flood", "hotlink"]
"#,
            native_rx.local_addr().unwrap()
        ),
    );
    let mut a = Collector::start_listening(&native);
    // The scripted collector's [[sink]] takes the script's thresholds too, by name.
    let sink_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let scripted_config = write_config(
        dir.path(),
        "scripted.toml",
        &format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen_b}\"]\n[stats]\ninterval_s = 0\n\
             [[sink]]\naddress = \"{}\"\nflows = [\"flood\", \"hotlink\"]\n",
            sink_rx.local_addr().unwrap()
        ),
    );
    let script_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let script = dir.path().join("ddos.js");
    std::fs::write(
        &script,
        DDOS_JS.replace("PORT", &script_rx.local_addr().unwrap().port().to_string()),
    )
    .unwrap();
    let mut b = start(&[
        "--config".as_ref(),
        scripted_config.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    let run = Duration::from_secs(4);
    let sent_for = flood(&[listen_a, listen_b], run);
    assert!(
        sent_for < run + Duration::from_secs(1),
        "sender too slow: {sent_for:?}"
    );
    let mut from_native = drain(&native_rx, Duration::from_millis(1500));
    let mut from_script = drain(&script_rx, Duration::from_millis(10));
    let mut from_sink = drain(&sink_rx, Duration::from_millis(10));
    assert_eq!(
        a.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert_eq!(
        b.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    from_native.extend(drain(&native_rx, Duration::from_millis(10)));
    from_script.extend(drain(&script_rx, Duration::from_millis(10)));
    from_sink.extend(drain(&sink_rx, Duration::from_millis(10)));

    // One flood event and one hot-link event from each, the same but for the measured
    // value, which each collector takes from its own clock.
    let sorted = |lines: &[String]| {
        let mut m: Vec<(String, f64)> = lines.iter().map(|l| masked_value(l)).collect();
        m.sort_by(|x, y| x.0.cmp(&y.0));
        m
    };
    let (native, script) = (sorted(&from_native), sorted(&from_script));
    let sink = sorted(&from_sink);
    assert_eq!(native.len(), 2, "{from_native:#?}\n{:#?}", a.lines);
    for other in [&script, &sink] {
        assert_eq!(
            native.iter().map(|x| &x.0).collect::<Vec<_>>(),
            other.iter().map(|x| &x.0).collect::<Vec<_>>(),
            "{from_native:#?}\n{from_script:#?}\n{from_sink:#?}\n{:#?}",
            b.lines
        );
    }
    assert!(
        native[0].0.ends_with(" sflow-rt: thresholdID=flood metric=udpflood agent=10.3.0.1 dataSource=7 flowKey=192.0.2.55 value=V threshold=100000"),
        "{native:?}"
    );
    assert!(
        native[1].0.ends_with(" sflow-rt: thresholdID=hotlink metric=ifinutilization agent=10.3.0.1 dataSource=3 value=V threshold=80"),
        "{native:?}"
    );
    for lines in [&native, &script, &sink] {
        assert!((170_000.0..=230_000.0).contains(&lines[0].1), "{lines:?}");
        assert!((88.0..=91.0).contains(&lines[1].1), "{lines:?}");
    }
    assert!(
        b.lines.iter().any(|l| l.ends_with(
            "INFO: event fields eventID,thresholdID,metric,agent,dataSource,flowKey,value,threshold,timestamp id number age true"
        )),
        "{:#?}",
        b.lines
    );
    assert!(
        b.lines
            .iter()
            .any(|l| l.contains("handled 2,") && l.contains("syslog sent 2,")),
        "{:#?}",
        b.lines
    );
}

/// The blocklist application: a group set, a flow keyed and filtered on it.
const BLOCKLIST_JS: &str = "setGroups('blocklist', {blocked: ['192.0.2.0/25', '2001:db8::/32'], allowed: ['192.0.2.128/25']});
setFlow('blocked', {keys:'ipsource,ipdestination,group:ipdestination:blocklist', value:'frames',
  filter:'group:ipdestination:blocklist=blocked', log:true, flowStart:true});
setFlowHandler(function(rec) {
  var k = rec.flowKeys.split(',');
  syslog('127.0.0.1', PORT, 16, 4, {src:k[0], dst:k[1], group:k[2]});
}, ['blocked']);
";

/// The `key=value` part of each line, sorted; each line must be local0.warning.
fn pairs_of(lines: &[String]) -> Vec<String> {
    let mut tails: Vec<String> = lines
        .iter()
        .map(|l| {
            assert!(l.starts_with("<132>"), "{l}");
            l.split_once(" sflow-rt: ")
                .map(|x| x.1.to_string())
                .unwrap_or_default()
        })
        .collect();
    tails.sort();
    tails
}

#[test]
fn blocklist_script_logs_flows_to_blocked_destinations_only_and_survives_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_udp_port();
    let config = write_config(
        dir.path(),
        "blocklist.toml",
        &format!("[rx]\nlisten = [\"127.0.0.1:{listen}\"]\n[stats]\ninterval_s = 0\n"),
    );
    let script = dir.path().join("blocklist.js");
    std::fs::write(
        &script,
        BLOCKLIST_JS.replace("PORT", &rx.local_addr().unwrap().port().to_string()),
    )
    .unwrap();
    let mut c = start(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    let frames: Vec<Vec<u8>> = ["192.0.2.5", "192.0.2.200", "203.0.113.1", "192.0.2.9"]
        .iter()
        .map(|d| frame(d, true))
        .collect();
    // Each destination twice (two datagrams): one record per blocked flow.
    send_all(
        listen,
        &[
            datagram("10.3.0.1", 1, 7, &frames),
            datagram("10.3.0.1", 2, 7, &frames),
        ],
    );
    let lines = receive(&rx, 2, Duration::from_secs(15));
    assert!(
        receive(&rx, 1, Duration::from_millis(500)).is_empty(),
        "{lines:#?}"
    );
    assert_eq!(
        pairs_of(&lines),
        [
            "src=198.51.100.7 dst=192.0.2.5 group=blocked",
            "src=198.51.100.7 dst=192.0.2.9 group=blocked"
        ],
        "{:#?}",
        c.lines
    );

    // A reload keeps the script's group set and flow: a newly seen blocked destination
    // is logged, an allowed one is not, the flows already logged are not logged again.
    c.signal_hup();
    let reloaded = c.wait_line("flowsift: reloaded", Duration::from_secs(10));
    assert!(reloaded.is_some(), "{:#?}", c.lines);
    let more = [frame("192.0.2.77", true), frame("192.0.2.201", true)];
    send_all(
        listen,
        &[
            datagram("10.3.0.1", 3, 7, &more),
            datagram("10.3.0.1", 4, 7, &frames),
        ],
    );
    let after = receive(&rx, 1, Duration::from_secs(15));
    assert!(
        receive(&rx, 1, Duration::from_millis(500)).is_empty(),
        "{after:#?}"
    );
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert_eq!(
        pairs_of(&after),
        ["src=198.51.100.7 dst=192.0.2.77 group=blocked"],
        "{:#?}",
        c.lines
    );
}

#[test]
fn bad_threshold_and_group_specs_fail_at_load_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let flow = "setFlow('udp', {keys:'ipdestination', value:'frames'});\n";
    let cases: [(&str, &[&str]); 6] = [
        (
            "setThreshold('ddos', {metric:'nosuch', value:1000});",
            &["setThreshold: threshold 'ddos': unknown metric 'nosuch'; flow definitions: udp; interface metrics: "],
        ),
        (
            "setThreshold('ddos', {metric:'udp', value:'lots'});",
            &["setThreshold('ddos'): invalid type: string \"lots\", expected f64"],
        ),
        (
            "setThreshold('ddos', {metric:'udp', value:1000, filter:'ipprotocol=17'});",
            &[
                "setThreshold('ddos'): unknown field `filter`: ",
                "define a flow with that filter (setFlow's `filter`) and set the threshold on it",
            ],
        ),
        (
            "setThreshold('ddos', 1000);",
            &["setThreshold('ddos'): the spec must be an object"],
        ),
        (
            "setGroups('feeds', {bad: ['10.0.0.0/33']});",
            &["setGroups: group set 'feeds', group 'bad': "],
        ),
        (
            "setFlow('blocked', {keys:'ipsource', filter:'group:ipdestination:nosuch=x'});",
            &["setFlow: ", "nosuch"],
        ),
    ];
    for (call, wanted) in cases {
        let (code, err, path) = run_to_exit(dir.path(), &format!("{flow}\n{call}\n"));
        assert_eq!(code, Some(2), "{call}: {err}");
        let at = format!("{}:3: Error: ", path.display());
        assert!(err.contains(&at), "{call}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{call}: wanted {w:?} in {err}");
        }
        assert!(!err.contains("listening on"), "{err}");
    }
    // A threshold the configuration file defines too is refused by name.
    let config = write_config(
        dir.path(),
        "both.toml",
        "[[flow]]\nname = \"udp\"\nkeys = \"ipdestination\"\n[[threshold]]\nname = \"ddos\"\nmetric = \"udp\"\nvalue = 5\n",
    );
    let (code, err, _) = run_to_exit_with(
        dir.path(),
        Some(&config),
        "setThreshold('ddos', {metric:'udp', value:1000, byFlow:true});\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("threshold 'ddos' is defined both by a [[threshold]] table and by a script's setThreshold"),
        "{err}"
    );
    // A sink may name what the scripts define, but not what nobody defines.
    let config = write_config(
        dir.path(),
        "sink.toml",
        "[[sink]]\nflows = [\"ddos\", \"nosuch\"]\n",
    );
    let (code, err, _) = run_to_exit_with(
        dir.path(),
        Some(&config),
        "setFlow('udp', {keys:'ipdestination'});\nsetThreshold('ddos', {metric:'udp', value:1000});\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("sink 'syslog': flow 'nosuch' is not defined; defined flows: udp, ddos"),
        "{err}"
    );
}

/// A blocklist refreshed after load: the flow handler asks for a refresh when it sees a
/// blocked destination, the interval handler then replaces the set.
const REFRESH_JS: &str = "var refresh = false;
setGroups('blocklist', {blocked: ['192.0.2.0/25']});
setFlow('blocked', {keys:'ipsource,ipdestination', value:'frames',
  filter:'group:ipdestination:blocklist=blocked', log:true, flowStart:true});
setFlowHandler(function(rec) {
  var k = rec.flowKeys.split(',');
  syslog('127.0.0.1', PORT, 16, 4, {src:k[0], dst:k[1]});
  refresh = true;
}, ['blocked']);
setIntervalHandler(function() {
  if (!refresh) return;
  refresh = false;
  setGroups('blocklist', {blocked: ['203.0.113.0/24']});
  logInfo('blocklist refreshed');
}, 0.1);
";

#[test]
fn an_interval_handler_that_replaces_a_blocklist_changes_what_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, rx, listen) = scripted(dir.path(), REFRESH_JS);
    let before = [frame("192.0.2.5", true), frame("203.0.113.1", true)];
    send_all(listen, &[datagram("10.3.0.1", 1, 7, &before)]);
    let lines = receive(&rx, 1, Duration::from_secs(15));
    assert_eq!(pairs_of(&lines), ["src=198.51.100.7 dst=192.0.2.5"]);
    let applied = c.wait_line(
        "flowsift: script: definitions changed",
        Duration::from_secs(10),
    );
    assert_eq!(
        applied.as_deref().map(|l| l.split_once("flowsift: ").map_or(l, |x| x.1)),
        Some(
            "script: definitions changed, applied: flows kept: blocked; added: none; removed: none; \
             sinks unchanged; groups changed: blocklist"
        ),
        "{:#?}",
        c.lines
    );
    // The old list's address is no longer logged, the new list's is.
    let after = [frame("192.0.2.6", true), frame("203.0.113.2", true)];
    send_all(listen, &[datagram("10.3.0.1", 2, 7, &after)]);
    let lines = receive(&rx, 1, Duration::from_secs(15));
    assert!(
        receive(&rx, 1, Duration::from_millis(500)).is_empty(),
        "{lines:#?}"
    );
    assert_eq!(pairs_of(&lines), ["src=198.51.100.7 dst=203.0.113.2"]);
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.ends_with("app.js: INFO: blocklist refreshed")),
        "{:#?}",
        c.lines
    );
    // The second record asks for a second refresh, to the same list: nothing to apply.
    assert!(
        c.lines.iter().any(|l| l.contains("handler errors 0,")
            && l.ends_with("configuring calls after load 2, applies 1 (applied 1, refused 0)")),
        "{:#?}",
        c.lines
    );
}

/// A DDoS script that starts a flow on the attacked address when the threshold fires.
const VICTIM_JS: &str = "setFlow('udpflood', {keys:'ipdestination', value:'frames', filter:'ipprotocol=17'});
setThreshold('flood', {metric:'udpflood', value:100000, byFlow:true});
setEventHandler(function(evt) {
  setFlow('victim', {keys:'ipsource,ipdestination', value:'frames', filter:'ipdestination=' + evt.flowKey,
    log:true, flowStart:true});
  syslog('127.0.0.1', PORT, 16, 4, {event:evt.thresholdID, key:evt.flowKey});
}, ['flood']);
setFlowHandler(function(rec) {
  syslog('127.0.0.1', PORT, 16, 4, {flow:rec.name, keys:rec.flowKeys});
}, ['victim']);
";

#[test]
fn an_event_handler_that_sets_a_flow_starts_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, rx, listen) = scripted(dir.path(), VICTIM_JS);
    flood(&[listen], Duration::from_secs(4));
    let lines = drain(&rx, Duration::from_millis(1000));
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    let mut lines = pairs_of(&lines);
    lines.sort();
    assert_eq!(
        lines,
        [
            "event=flood key=192.0.2.55",
            "flow=victim keys=\"198.51.100.7,192.0.2.55\""
        ],
        "{:#?}",
        c.lines
    );
    assert!(
        c.lines.iter().any(|l| l.ends_with(
            "script: definitions changed, applied: flows kept: udpflood; added: victim; removed: none; sinks unchanged"
        )),
        "{:#?}",
        c.lines
    );
}

#[test]
fn errors_after_load_throw_their_reason_and_a_tight_loop_is_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    let script = "var runs = 0;
setIntervalHandler(function() {
  runs++;
  if (runs == 1) {
    try { setThreshold('t', {metric:'nosuch', value:1}); } catch (e) { logWarning('refused: ' + e.message); }
    setGroups('bad', {x: ['10.0.0.0/33']});
  }
  if (runs >= 2 && runs <= 6) {
    for (var i = 0; i < 1000; i++) setFlow('f', {keys:'ipsource', maxEntries: 1000 + i + runs});
  }
  if (runs == 7) logInfo('still running');
}, 0.1);
";
    let (mut c, _rx, _listen) = scripted(dir.path(), script);
    assert!(
        c.wait_for("app.js: INFO: still running", Duration::from_secs(15)),
        "{:#?}",
        c.lines
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines.iter().any(|l| l.contains(
            "app.js: WARNING: refused: setThreshold: threshold 't': unknown metric 'nosuch'; flow definitions: none; \
             interface metrics: "
        )),
        "{:#?}",
        c.lines
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("interval handler threw: ")
                && l.contains("app.js:6: Error: setGroups: group set 'bad', group 'x': ")),
        "{:#?}",
        c.lines
    );
    // 5000 calls in five handler runs: one apply per run at most, the first adds `f`.
    assert!(
        c.lines.iter().any(|l| l.ends_with(
            "script: definitions changed, applied: flows kept: none; added: f; removed: none; sinks unchanged"
        )),
        "{:#?}",
        c.lines
    );
    let report = c
        .lines
        .iter()
        .find(|l| l.contains("configuring calls after load"))
        .unwrap_or_else(|| panic!("{:#?}", c.lines));
    let tail = report.split_once("configuring calls after load 5000, applies ");
    let (applies, rest) = tail
        .and_then(|t| t.1.split_once(' '))
        .unwrap_or_else(|| panic!("{report}"));
    let applies: u64 = applies.parse().unwrap();
    assert!((1..=5).contains(&applies), "{report}");
    assert_eq!(rest, format!("(applied {applies}, refused 0)"), "{report}");
    assert!(report.contains("handler errors 1,"), "{report}");
}

/// Configuring after load against the configuration file: a name it defines throws, a
/// set the configuration refuses (a threshold left on a cleared flow) leaves the running
/// one in force, and after a SIGHUP the file's new flow may be named.
const AGAINST_FILE_JS: &str = "setFlow('f', {keys:'ipsource'});
setThreshold('t', {metric:'f', value:1000000});
var runs = 0, restore = false, restored = false, done = false;
setFlowHandler(function(rec) { if (!restored) restore = true; }, ['udp']);
setIntervalHandler(function() {
  runs++;
  if (runs == 1) {
    try { setFlow('udp', {keys:'ipsource'}); } catch (e) { logWarning(e.message); }
    try { setGroups('site', {lan:['10.0.0.0/8']}); } catch (e) { logWarning(e.message); }
    clearFlow('f');
  }
  if (restore && !restored) { restored = true; setFlow('f', {keys:'ipsource'}); logInfo('restored'); }
  if (restored && !done) {
    try { setThreshold('m', {metric:'more', value:5}); done = true; logInfo('m set'); } catch (e) {}
  }
}, 0.1);
";

#[test]
fn configuring_after_load_follows_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_udp_port();
    let body = |more: &str| {
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\n[stats]\ninterval_s = 0\n\
             [[group]]\nname = \"site\"\ngroups = {{ lan = [\"10.0.0.0/8\"] }}\n\
             [[flow]]\nname = \"udp\"\nkeys = \"ipdestination\"\nlog = true\nflowStart = true\n{more}\
             [[sink]]\naddress = \"{}\"\n",
            sink.local_addr().unwrap()
        )
    };
    let config = write_config(dir.path(), "file.toml", &body(""));
    let script = write_config(dir.path(), "app.js", AGAINST_FILE_JS);
    let mut c = start(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    let refused = c.wait_line("definitions changed, refused", Duration::from_secs(10));
    assert!(
        refused.as_deref().is_some_and(|l| l.contains(
            "flowsift: script: definitions changed, refused, the running ones go on: threshold 't': unknown metric 'f'; \
             flow definitions: udp; interface metrics: "
        )),
        "{:#?}",
        c.lines
    );
    // A record of the file's flow makes the script restore its flow: applied, nothing changes.
    send_all(
        listen,
        &[datagram("10.3.0.1", 1, 7, &[frame("192.0.2.5", true)])],
    );
    let applied = c.wait_line("definitions changed, applied", Duration::from_secs(10));
    assert!(
        applied.as_deref().is_some_and(|l| l.ends_with(
            "flowsift: script: definitions changed, applied: flows kept: udp, f; added: none; removed: none; sinks unchanged"
        )),
        "{:#?}",
        c.lines
    );
    // The file gains a flow: the script may then set a threshold on it.
    std::fs::write(
        &config,
        body("[[flow]]\nname = \"more\"\nkeys = \"ipsource\"\n"),
    )
    .unwrap();
    c.signal_hup();
    assert!(
        c.wait_for("flowsift: reloaded", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    assert!(
        c.wait_for("app.js: INFO: m set", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    // The threshold is part of its flow's definition: `more` gets new tables.
    assert!(
        c.wait_for("added: more; removed: more", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    for w in [
        "app.js: WARNING: setFlow: flow 'udp' is defined both by a [[flow]] table and by a script's setFlow",
        "app.js: WARNING: setGroups: group set 'site' is defined both by a [[group]] table and by a script's setGroups",
    ] {
        assert!(c.lines.iter().any(|l| l.ends_with(w)), "{w}\n{:#?}", c.lines);
    }
    assert!(
        c.lines
            .iter()
            .any(|l| l.ends_with("(applied 2, refused 1)")),
        "{:#?}",
        c.lines
    );
}

#[test]
fn a_flow_set_after_load_is_the_scripts_not_the_catch_all_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let script_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_udp_port();
    // A [[sink]] with no `flows` list takes the configuration's flows, not the scripts'.
    let config = write_config(
        dir.path(),
        "sink.toml",
        &format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\n[stats]\ninterval_s = 0\n[[sink]]\naddress = \"{}\"\n",
            sink.local_addr().unwrap()
        ),
    );
    let script = write_config(
        dir.path(),
        "late.js",
        &"setFlowHandler(function(rec) { syslog('127.0.0.1', PORT, 16, 4, {flow:rec.name, keys:rec.flowKeys}); });
var set = false;
setIntervalHandler(function() {
  if (set) return;
  set = true;
  setFlow('late', {keys:'ipdestination', value:'frames', log:true, flowStart:true});
}, 0.1);
"
        .replace("PORT", &script_rx.local_addr().unwrap().port().to_string()),
    );
    let mut c = start(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    assert!(
        c.wait_for("definitions changed, applied", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    send_all(
        listen,
        &[datagram("10.3.0.1", 1, 7, &[frame("192.0.2.5", true)])],
    );
    let lines = receive(&script_rx, 1, Duration::from_secs(15));
    assert_eq!(
        pairs_of(&lines),
        ["flow=late keys=192.0.2.5"],
        "{:#?}",
        c.lines
    );
    assert!(drain(&sink, Duration::from_millis(500)).is_empty());
    assert_eq!(
        c.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("definitions changed, applied: ") && l.contains("added: late;")),
        "{:#?}",
        c.lines
    );
}
