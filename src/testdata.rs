//! Where the sFlow test corpus lives (`tests/data/sflow/`), for the integration tests, the
//! benches and the library's own test modules. It is here, in one place, so that every corpus
//! check can be pointed at a copy of the repository (see `tests/standalone.rs`); the collector
//! itself never reads it. Hidden from the documentation.

use std::path::{Path, PathBuf};

/// The corpus folder relative to the package root.
pub const CORPUS_REL: &str = "tests/data/sflow";

/// The package root: `CARGO_MANIFEST_DIR` as set at run time when it is (cargo sets it for
/// `cargo test`, `cargo bench` and `cargo run`; a test sets it to run the checks on a copy),
/// else the directory this crate was compiled from.
pub fn package_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The corpus folder.
pub fn corpus_dir() -> PathBuf {
    package_root().join(CORPUS_REL)
}

/// One corpus file by its path relative to the corpus folder; panics if it is not there, so
/// a test naming a file that went missing fails on that name.
pub fn corpus_file(rel: &str) -> PathBuf {
    let path = corpus_dir().join(rel);
    assert!(
        path.is_file(),
        "corpus file {} is missing (corpus folder {})",
        rel,
        corpus_dir().display()
    );
    path
}

/// Whether a corpus file holds datagrams: a capture (`.pcap`, `.pcapng`) or one raw datagram
/// (`.bin`, `.dat`, `.data`). Anything else (READMEs, licences, expectations) is not input.
pub fn is_input(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "bin" | "dat" | "data")
    )
}

/// Whether an input file is a raw datagram rather than a capture.
pub fn is_raw(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bin" | "dat" | "data")
    )
}

/// Every input file of the corpus ([`is_input`]), as paths relative to [`corpus_dir`], in
/// sorted order. Panics when the folder is missing or holds no input: a corpus test must
/// fail, never pass having looked at nothing.
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "the sFlow test corpus is missing: no folder {} (it is part of the repository; \
         CARGO_MANIFEST_DIR={:?})",
        dir.display(),
        std::env::var_os("CARGO_MANIFEST_DIR")
    );
    let mut files = Vec::new();
    walk(&dir, &mut files);
    let mut rel: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| is_input(p))
        .map(|p| p.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    rel.sort();
    assert!(
        !rel.is_empty(),
        "the sFlow test corpus at {} holds no capture or datagram file",
        dir.display()
    );
    rel
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list corpus folder {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list corpus folder {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
