//! Scripts refused at start-up, with the file and line: a script that throws at load, one
//! that calls a function flowsift lacks, threshold and group specs the engine refuses,
//! names the configuration file defines too, and sink names nobody defines.

use std::time::Duration;

use crate::util::{run_to_exit, run_to_exit_with, scripted, write_config};

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
