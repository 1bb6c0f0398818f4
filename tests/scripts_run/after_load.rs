//! Configuring after load: a blocklist replaced by an interval handler, a flow set by an
//! event handler, a bad spec thrown with its reason, a tight loop of calls coalesced,
//! names the configuration file defines, a set it refuses, a flow it gains by SIGHUP, and
//! a flow set from a handler kept from the catch-all sink.

use std::net::UdpSocket;
use std::time::Duration;

use crate::run_support::flood::{flood, frame};
use crate::run_support::{datagram, free_udp_port};
use crate::util::{drain, pairs_of, receive, scripted, send_all, start, write_config};

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
