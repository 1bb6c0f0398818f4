//! Tests of the script thread through [`ScriptHost`]: what loading defines (set, replace,
//! clear), specs checked against the configuration's definitions, and configuring after
//! load (one hand-over per change, a refused spec changing nothing, a tight loop
//! coalesced).

use super::*;

/// The scripts' configuration after loading `src` (one script).
fn load(src: &str, native: Native) -> Result<ScriptHost, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.js");
    std::fs::write(&path, src).unwrap();
    let cfg = ScriptConfig {
        files: vec![path],
        ..ScriptConfig::default()
    };
    ScriptHost::load_with(&cfg, native)
}

#[test]
fn set_replaces_by_name_and_clear_removes() {
    let host = load(
        "setGroups('g', {a: ['10.0.0.0/8']});\n\
         setGroups('g', {b: ['10.0.0.0/8'], c: ['192.0.2.0/24']});\n\
         setFlow('f', {keys: 'group:ipsource:g', value: 'bytes'});\n\
         setFlow('gone', {keys: 'ipsource'});\n\
         clearFlow('gone');\n\
         setThreshold('t', {metric: 'f', value: 5});\n\
         setThreshold('t', {metric: 'f', value: 7, byFlow: true, timeout: 2});\n\
         setThreshold('x', {metric: 'ifinutilization', value: 80});\n\
         clearThreshold('x');\n\
         setEventHandler(function(evt) {}, ['t']);\n",
        Native::default(),
    )
    .unwrap();
    let groups: Vec<_> = host.groups().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["g"]);
    assert_eq!(
        host.groups()[0].groups.keys().collect::<Vec<_>>(),
        ["b", "c"]
    );
    let flows: Vec<_> = host.flows().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(flows, ["f"]);
    let t = host.thresholds();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].name.as_str(), t[0].value, t[0].by_flow, t[0].timeout),
        ("t", 7.0, true, 2)
    );
    // The tap takes the threshold's events, no flow's records, and owns both names.
    let tap = host.tap().unwrap();
    assert_eq!(tap.thresholds, Some(vec!["t".to_string()]));
    assert_eq!(tap.flows, Some(Vec::new()));
    assert_eq!(tap.own, ["f", "t"]);
}

#[test]
fn specs_are_checked_against_the_configuration() {
    // A threshold on a [[flow]], a flow reading a [[group]] set: accepted.
    let mut groups = crate::groups::Groups::default();
    groups.insert(crate::groups::GroupSet::from_map("site", &[("lan", ["10.0.0.0/8"])]).unwrap());
    let native = Native {
        flows: vec![toml::from_str("name = \"udp\"\nkeys = \"ipdestination\"").unwrap()],
        groups,
        ..Native::default()
    };
    let host = load(
        "setFlow('lan', {keys: 'ipsource', filter: 'group:ipsource:site=lan'});\n\
         setThreshold('ddos', {metric: 'udp', value: 1000, byFlow: true});\n",
        native,
    )
    .unwrap();
    assert_eq!(host.thresholds()[0].metric, "udp");
    // Without them, the same script fails at the first line naming what is missing.
    let err = load(
        "setFlow('lan', {keys: 'ipsource', filter: 'group:ipsource:site=lan'});\n",
        Native::default(),
    )
    .err()
    .unwrap();
    assert!(
        err.contains("app.js:1: Error: setFlow: ") && err.contains("site"),
        "{err}"
    );
    let err = load(
        "setThreshold('ddos', {metric: 'udp', value: 1000});\n",
        Native::default(),
    )
    .err()
    .unwrap();
    assert!(
        err.contains("app.js:1: Error: setThreshold: threshold 'ddos': unknown metric 'udp'; flow definitions: none"),
        "{err}"
    );
    // A group name the group sets refuse is refused where setGroups is called.
    let err = load("setGroups('g', {'': ['10.0.0.0/8']});\n", Native::default())
        .err()
        .unwrap();
    assert!(
        err.contains("app.js:1: Error: setGroups: group set 'g'"),
        "{err}"
    );
}

/// Wait (bounded) until `done` holds.
fn until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn configuring_after_load_hands_over_the_whole_set_once_per_change() {
    let mut host = load(
        "var n = 0;\n\
         setIntervalHandler(function() {\n\
           n++;\n\
           if (n == 1) { setGroups('late', {a: ['10.0.0.0/8']}); setFlow('f', {keys: 'group:ipsource:late'}); }\n\
           if (n == 2) setFlowHandler(function(r) {}, ['f']);\n\
         }, 0.1);\n",
        Native::default(),
    )
    .unwrap();
    assert!(host.groups().is_empty() && host.flows().is_empty());
    let mut first = None;
    until(|| {
        first = host.take_update();
        first.is_some()
    });
    // Both calls of the first run in one update.
    let first = first.expect("an update");
    assert_eq!(first.groups[0].name, "late");
    assert_eq!(first.flows[0].name, "f");
    assert_eq!(first.wanted, Some(Vec::new()));
    host.accept(first);
    assert_eq!(host.flows()[0].name, "f");
    let mut second = None;
    until(|| {
        second = host.take_update();
        second.is_some()
    });
    // The handler's name list is part of the set: the sender's hook changes with it.
    let second = second.expect("a second update");
    assert_eq!(second.wanted, Some(vec!["f".to_string()]));
    assert_eq!(
        host.tap_for(&second).unwrap().flows,
        Some(vec!["f".to_string()])
    );
    host.refuse();
    // Nothing changes after that: no more updates.
    std::thread::sleep(Duration::from_millis(300));
    assert!(host.take_update().is_none());
    let stats = host.stats();
    assert_eq!(
        (
            stats.calls_after_load,
            stats.updates,
            stats.applied,
            stats.refused,
            stats.errors
        ),
        (3, 2, 1, 1, 0),
        "{stats}"
    );
}

#[test]
fn a_bad_spec_after_load_throws_its_reason_and_changes_nothing() {
    let host = load(
        "setIntervalHandler(function() {\n\
           try { setThreshold('t', {metric: 'nothing', value: 1}); }\n\
           catch (e) { setGroups('caught', {x: ['192.0.2.0/24']}); logInfo('caught: ' + e.message); }\n\
           setGroups('g', {'': ['10.0.0.0/8']});\n\
         }, 0.1);\n",
        Native::default(),
    )
    .unwrap();
    until(|| host.stats().errors >= 1);
    assert!(host.stats().errors >= 1, "{}", host.stats());
    let mut update = None;
    until(|| {
        update = host.take_update();
        update.is_some()
    });
    // The refused threshold and group set are not in the set; what was caught is.
    let update = update.expect("an update");
    assert!(update.thresholds.is_empty());
    let names: Vec<_> = update.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["caught"]);
}

#[test]
fn a_tight_loop_of_configuring_calls_is_coalesced() {
    let host = load(
        "var runs = 0;\n\
         setIntervalHandler(function() {\n\
           runs++;\n\
           for (var i = 0; i < 1000; i++) setFlow('f' + (i % 10), {keys: 'ipsource', maxEntries: runs * 1000 + i});\n\
         }, 0.1);\n",
        Native::default(),
    )
    .unwrap();
    let started = Instant::now();
    until(|| host.stats().calls_after_load >= 3000);
    let mut taken = 0;
    let mut last = None;
    while started.elapsed() < Duration::from_millis(1000) {
        if let Some(u) = host.take_update() {
            taken += 1;
            last = Some(u);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = host.stats();
    let runs = stats.calls_after_load / 1000;
    assert!(stats.calls_after_load >= 3000, "{stats}");
    // At most one update per handler run and per 100 ms, whatever the calls.
    assert!(stats.updates <= runs + 1, "{stats}");
    let elapsed_ms = started.elapsed().as_millis() as u64 + 5000;
    assert!(stats.updates <= elapsed_ms / 100 + 1, "{stats}");
    assert!(
        taken >= 1 && taken as u64 <= stats.updates,
        "{taken} {stats}"
    );
    // The latest state wins: each flow with the last maxEntries of one run.
    let last = last.expect("an update");
    let max: Vec<_> = last.flows.iter().filter_map(|f| f.max_entries).collect();
    assert_eq!(max.len(), 10, "{max:?}");
    let run = max[0] / 1000;
    let want: Vec<usize> = (0..10).map(|k| run * 1000 + 990 + k).collect();
    assert_eq!(max, want);
}
