//! The group file format: one `CIDR group-name` per line.
//!
//! ```text
//! # threat feed, 2026-12-06
//! 192.0.2.0/24     blocklist
//! 198.51.100.7     blocklist      # a bare address is a /32 (or /128)
//! 2001:db8:bad::/48 blocklist
//! ```
//!
//! Blank lines and everything from `#` on are ignored; fields are separated by spaces or
//! tabs. Threat feeds ship as such lists, so a feed is a group set without conversion. A
//! line that is not exactly an address or prefix and a group name refuses the whole file,
//! with its line number: a half-read blocklist would silently pass what it should catch.

use super::{parse_cidr, Cidr, GroupError, Origin};

/// Most lines one group file may have (bounded memory: a few tens of bytes each).
pub const MAX_LINES: usize = 10_000_000;

/// The `(prefix, group name, origin)` entries of a group file's text; `path` names it in
/// errors.
pub fn parse(text: &str, path: &str) -> Result<Vec<(Cidr, String, Origin)>, GroupError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if line > MAX_LINES {
            return Err(GroupError::File {
                path: path.to_owned(),
                line,
                message: format!("more than {MAX_LINES} lines"),
            });
        }
        let content = raw.split_once('#').map_or(raw, |(c, _)| c);
        let mut fields = content.split([' ', '\t']).filter(|f| !f.is_empty());
        let Some(cidr) = fields.next() else {
            continue;
        };
        let bad = |message: String| GroupError::File {
            path: path.to_owned(),
            line,
            message,
        };
        let Some(group) = fields.next() else {
            return Err(bad(format!(
                "'{cidr}' has no group name: each line is 'CIDR group-name'"
            )));
        };
        if let Some(extra) = fields.next() {
            return Err(bad(format!(
                "'{extra}' after the group name: each line is 'CIDR group-name'"
            )));
        }
        let prefix = parse_cidr(cidr).map_err(bad)?;
        super::check_group_name(group).map_err(bad)?;
        out.push((prefix, group.to_owned(), Origin::Line(line)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_both_families() {
        let text = "# feed\n\n192.0.2.0/24 blocklist\n\t198.51.100.7\tblocklist # one host\n2001:db8::/32   tor\n   \n";
        let e = parse(text, "feed.txt").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].1, "blocklist");
        assert_eq!(e[0].2, Origin::Line(3));
        assert_eq!(e[1].0, Cidr("198.51.100.7".parse().unwrap(), 32));
        assert_eq!(e[2].0, Cidr("2001:db8::".parse().unwrap(), 32));
        assert_eq!(e[2].2, Origin::Line(5));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        for (text, line, part) in [
            ("10.0.0.0/8 a\n10.0.0.0/33 b\n", 2, "10.0.0.0/33"),
            ("\n\n# x\nnot-an-address a\n", 4, "not-an-address"),
            ("10.0.0.0/8\n", 1, "no group name"),
            ("10.0.0.0/8 a b\n", 1, "'b' after the group name"),
            ("2001:db8::/129 a\n", 1, "2001:db8::/129"),
            ("10.0.0.0/8 a,b\n", 1, "a,b"),
            ("10.0.0.0/ a\n", 1, "10.0.0.0/"),
        ] {
            let e = parse(text, "/etc/feeds/x.txt").unwrap_err();
            let s = e.to_string();
            assert!(
                s.starts_with(&format!("/etc/feeds/x.txt:{line}: ")),
                "{s} (want line {line})"
            );
            assert!(s.contains(part), "{s} (want {part})");
        }
    }
}
