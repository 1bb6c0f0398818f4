//! `[[group]]` in the configuration: sets built from inline maps and files, flows that
//! use them, and every error with its position (a CIDR at its line and column, a group
//! file's line, an unknown set at the `[[flow]]` table).

use flowsift::config::{Config, ConfigError};

fn parse_err(src: &str) -> ConfigError {
    Config::parse(src, "test.toml").unwrap_err()
}

#[test]
fn groups_build_and_flows_use_them() {
    let c = Config::parse(
        r#"
[[group]]
name = "site"
groups = { private = ["10.0.0.0/8", "fd00::/8"], external = ["0.0.0.0/0"] }

[[flow]]
name = "blocked"
keys = "ipsource,ipdestination,group:ipdestination:site"
filter = "group:ipdestination:site=private"
log = true
"#,
        "x",
    )
    .unwrap();
    assert_eq!(c.groups.len(), 1);
    let set = c.group_sets.get("site").unwrap();
    assert_eq!(set.group_of("10.1.1.1".parse().unwrap()), Some("private"));
    // The printed configuration keeps the group table and parses back to itself.
    let printed = c.to_toml();
    assert!(printed.contains("[[group]]"), "{printed}");
    assert_eq!(
        Config::parse(&printed, "printed").unwrap().effective(),
        c.effective()
    );
}

#[test]
fn group_errors_have_positions() {
    let e =
        parse_err("[[group]]\nname = \"s\"\ngroups = { a = [\"10.0.0.0/8\", \"10.0.0.0/99\"] }\n");
    assert_eq!((e.line, e.column), (3, 31), "{e}");
    assert!(e.message.contains("group set 's', group 'a'"), "{e}");
    assert!(e.message.contains("10.0.0.0/99"), "{e}");

    let e = parse_err("[[flow]]\nname = \"x\"\nkeys = \"group:ipsource:nope\"\n");
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("unknown group set 'nope'"), "{e}");

    let e = parse_err("[[group]]\nname = \"s\"\n\n[[flow]]\nname = \"x\"\nkeys = \"ipsource\"\nfilter = \"group:ipsource:t=a\"\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(
        e.message.contains("unknown group set 't' (defined: s)"),
        "{e}"
    );

    let e = parse_err("[[group]]\nname = \"s\"\nfiles = \"x\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("unknown field `files`"), "{e}");

    let e = parse_err("[[group]]\nname = \"s\"\n[[group]]\nname = \"s\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("defined twice"), "{e}");

    let e = parse_err(
        "\n[[group]]\nname = \"s\"\ngroups = { a = [\"10.0.0.0/8\"], b = [\"10.0.0.0/8\"] }\n",
    );
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("in group 'a' and in group 'b'"), "{e}");
}

#[test]
fn group_files_are_read_relative_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feed.txt"),
        "# feed\n192.0.2.0/24 blocklist\n198.51.100.0/24 blocklist extra\n",
    )
    .unwrap();
    let conf = dir.path().join("flowsift.toml");
    std::fs::write(&conf, "[[group]]\nname = \"feeds\"\nfile = \"feed.txt\"\n").unwrap();
    let e = Config::load(&conf).unwrap_err();
    let feed = dir.path().join("feed.txt").display().to_string();
    assert_eq!(e.origin, feed);
    assert_eq!(e.line, 3, "{e}");
    assert!(e.to_string().starts_with(&format!("{feed}:3:")), "{e}");
    std::fs::write(dir.path().join("feed.txt"), "192.0.2.0/24 blocklist\n").unwrap();
    let c = Config::load(&conf).unwrap();
    let set = c.group_sets.get("feeds").unwrap();
    assert_eq!(
        set.group_of("192.0.2.9".parse().unwrap()),
        Some("blocklist")
    );
    std::fs::remove_file(dir.path().join("feed.txt")).unwrap();
    let e = Config::load(&conf).unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("cannot read"), "{e}");
}
