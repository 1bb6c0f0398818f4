//! The load-time check that a script calls only what flowsift provides.
//!
//! sFlow-RT has many global functions (topology, BGP, REST, metrics ...); flowsift runs a
//! few of them. A script that calls another must fail when it loads, naming the function,
//! not at the first event hours later. So before a script runs, its source is scanned for
//! calls `name(` of a bare identifier (not `obj.name(`): a name that is neither a global
//! of the script's context (JavaScript built-ins, flowsift's API) nor ever written
//! anywhere in the script outside a call (a declaration, a parameter, a variable) is a
//! function nobody provides. Comments, strings, template literals and regular expressions are
//! skipped. The scan is lexical, so it may accept a script that would still fail (a local
//! name shadowing nothing), but it never refuses a name the script defines.

/// One call of a bare identifier: its name and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub line: usize,
}

/// What the scan found: calls of bare identifiers, and every identifier seen outside a
/// call position (declarations, parameters, uses as values).
#[derive(Debug, Default)]
pub struct Scan {
    pub calls: Vec<Call>,
    pub other: std::collections::HashSet<String>,
}

/// Words that may precede `(` without being a call.
const KEYWORDS: &[&str] = &[
    "if",
    "for",
    "while",
    "switch",
    "catch",
    "function",
    "return",
    "typeof",
    "delete",
    "void",
    "in",
    "of",
    "new",
    "do",
    "else",
    "case",
    "throw",
    "await",
    "yield",
    "instanceof",
    "with",
    "super",
    "import",
    "export",
    "class",
    "extends",
    "var",
    "let",
    "const",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    Punct(u8),
    /// A string, number, template or regular expression.
    Literal,
}

/// Tokens with their lines; never panics, whatever the bytes.
fn tokens(src: &str) -> Vec<(Tok<'_>, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let count_lines = |from: usize, to: usize| {
        b[from..to.min(b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = i;
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
                line += count_lines(start, i);
            }
            b'\'' | b'"' | b'`' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                line += count_lines(start, i);
                out.push((Tok::Literal, line));
            }
            b'/' if regex_may_start(out.last().map(|t| t.0)) => {
                let start = i;
                i += 1;
                let mut class = false;
                while i < b.len() && b[i] != b'\n' {
                    match b[i] {
                        b'\\' => i += 1,
                        b'[' => class = true,
                        b']' => class = false,
                        b'/' if !class => break,
                        _ => {}
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                line += count_lines(start, i);
                out.push((Tok::Literal, line));
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                out.push((Tok::Literal, line));
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                // `start..i` holds whole UTF-8 characters: it starts and ends at ASCII bytes
                // or runs over every byte >= 0x80.
                match src.get(start..i) {
                    Some(word) => out.push((Tok::Ident(word), line)),
                    None => out.push((Tok::Literal, line)),
                }
            }
            c => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// A `/` starts a regular expression unless it follows a value.
fn regex_may_start(prev: Option<Tok<'_>>) -> bool {
    match prev {
        None => true,
        Some(Tok::Literal) => false,
        Some(Tok::Ident(w)) => KEYWORDS.contains(&w),
        Some(Tok::Punct(p)) => !matches!(p, b')' | b']' | b'}'),
    }
}

/// Scan a script's source.
pub fn scan(src: &str) -> Scan {
    let toks = tokens(src);
    let mut out = Scan::default();
    for (i, &(tok, line)) in toks.iter().enumerate() {
        let Tok::Ident(word) = tok else { continue };
        let prev = i.checked_sub(1).map(|p| toks[p].0);
        let next = toks.get(i + 1).map(|t| t.0);
        let after_dot = prev == Some(Tok::Punct(b'.'));
        if KEYWORDS.contains(&word) || after_dot {
            continue;
        }
        let declared = matches!(
            prev,
            Some(Tok::Ident("function")) | Some(Tok::Ident("class"))
        );
        if next == Some(Tok::Punct(b'(')) && !declared && !is_method_definition(&toks, i + 1) {
            out.calls.push(Call {
                name: word.to_owned(),
                line,
            });
        } else {
            out.other.insert(word.to_owned());
        }
    }
    out
}

/// Whether the `(` at `open` closes with `)` followed by `{`: `name(a) { ... }` is a
/// method definition in an object literal or class, not a call.
fn is_method_definition(toks: &[(Tok<'_>, usize)], open: usize) -> bool {
    let mut depth = 0usize;
    for (j, &(t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return toks.get(j + 1).map(|t| t.0) == Some(Tok::Punct(b'{'));
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(src: &str) -> Vec<(String, usize)> {
        scan(src)
            .calls
            .into_iter()
            .map(|c| (c.name, c.line))
            .collect()
    }

    #[test]
    fn finds_bare_calls_with_lines_and_skips_the_rest() {
        let src = "var a = 1; // topologyNodes()\n/* bgpAddNeighbor(\n) */ setFlow('x', {});\n\
                   rt.logInfo('metric(' + \"dump(\" + `table(`);\nvar r = /agents(/g;\n\
                   function local(fn) { return fn(2); }\nif (a) { setThreshold('t', {}); }\n\
                   var o = { m(x) { return x; } };";
        let got = calls(src);
        assert_eq!(
            got,
            vec![
                ("setFlow".to_string(), 3),
                ("fn".to_string(), 6),
                ("setThreshold".to_string(), 7),
            ]
        );
        let s = scan(src);
        assert!(s.other.contains("fn") && s.other.contains("local"));
        assert!(!s.other.contains("setThreshold"));
    }

    #[test]
    fn division_is_not_a_regex() {
        let got = calls("var x = a / b; f(x / 2); var y = (x) / g(1);");
        assert_eq!(
            got.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["f", "g"]
        );
    }

    #[test]
    fn any_bytes_scan_without_panic() {
        let mut x: u32 = 7;
        for len in 0..300 {
            let src: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    const BYTES: &[u8] = b"a(/'\"`*\\\n {}).=\xc3\xa9x";
                    BYTES[x as usize % BYTES.len()]
                })
                .collect();
            let _ = scan(&String::from_utf8_lossy(&src));
        }
    }
}
