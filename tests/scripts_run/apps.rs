//! sFlow-RT applications against their native configurations: a DDoS script
//! (`setThreshold`, `setEventHandler`) gives the events of the same `[[threshold]]`
//! tables, and a blocklist script (`setGroups`, a `group:` filter) logs flows to blocked
//! destinations only, across a SIGHUP.

use std::net::UdpSocket;
use std::time::Duration;

use crate::run_support::flood::{flood, frame};
use crate::run_support::{datagram, free_udp_port, Collector};
use crate::util::{drain, pairs_of, receive, send_all, start, untimed, write_config};

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
