//! The repository stands alone: its corpus checks pass from a copy of the repository in a
//! temporary folder with nothing beside it, a missing or empty corpus fails them loudly, and
//! nothing tracked reads a folder outside the repository.
//!
//! The copy is checked by running this test binary again (no new build) with
//! `CARGO_MANIFEST_DIR` pointing at the copy, which is where `flowsift::testdata` looks for
//! the corpus at run time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flowsift::sflow::decode_datagram;
use flowsift::testdata::{corpus_dir, corpus_files, package_root};

mod packet_support;
use packet_support::visit;

/// The corpus check the copy runs: every input file read, every datagram decoded, and the
/// exact numbers of files, datagrams and samples. It prints the folder it read, so the
/// caller can tell the copy was used.
#[test]
fn corpus_counts() {
    let dir = corpus_dir();
    let files = corpus_files();
    let (mut datagrams, mut count) = (0, visit::Collected::default());
    for rel in &files {
        let read = flowsift::replay::read_datagrams(&dir.join(rel))
            .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        datagrams += read.len();
        for d in &read {
            let _ = decode_datagram(d, 0, &mut count);
        }
    }
    println!("corpus read from {}", dir.display());
    assert_eq!(
        (
            files.len(),
            datagrams,
            count.flows.len(),
            count.counters.len(),
            count.discards.len()
        ),
        (53, 1067, 6009, 553, 6),
        "(files, datagrams, flow, counter, discard samples) of the corpus"
    );
}

/// The repository's files: what git tracks or would track (untracked files not ignored);
/// outside a git checkout (a source tarball), every file but build output (`target/`).
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output();
    if let Ok(out) = listed {
        if out.status.success() && !out.stdout.is_empty() {
            return out
                .stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
                .filter(|p| root.join(p).is_file())
                .collect();
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != "target" && !name.starts_with(".git") {
                walk(root, &path, out);
            }
        } else {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// Runs `corpus_counts` of this very binary against the package at `root`.
fn run_counts(root: &Path) -> (Output, String) {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "corpus_counts",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CARGO_MANIFEST_DIR", root)
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn corpus_checks_pass_from_a_copy_with_no_siblings() {
    let root = package_root();
    let outer = tempfile::tempdir().expect("tempdir");
    let copy = outer.path().join("flowsift");
    let files = repository_files(&root);
    for rel in &files {
        let to = copy.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(root.join(rel), &to).expect("copy");
    }
    let copied_inputs = files
        .iter()
        .filter(|f| {
            f.starts_with(flowsift::testdata::CORPUS_REL) && flowsift::testdata::is_input(f)
        })
        .count();
    assert_eq!(
        copied_inputs,
        corpus_files().len(),
        "every corpus input copied"
    );
    let siblings: Vec<_> = std::fs::read_dir(outer.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(siblings, ["flowsift"], "nothing beside the copy");

    let (out, text) = run_counts(&copy);
    assert!(
        out.status.success(),
        "corpus checks fail from a copy:\n{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
    let used = format!(
        "corpus read from {}",
        copy.join(flowsift::testdata::CORPUS_REL).display()
    );
    assert!(
        text.contains(&used),
        "the copy's corpus was not the one read:\n{text}"
    );

    // An empty corpus folder fails, naming the folder; so does a missing one.
    let corpus = copy.join(flowsift::testdata::CORPUS_REL);
    std::fs::remove_dir_all(&corpus).expect("remove corpus");
    std::fs::create_dir_all(corpus.join("gopacket")).expect("mkdir");
    std::fs::write(corpus.join("README.md"), "no captures").expect("write");
    let (out, text) = run_counts(&copy);
    assert!(!out.status.success(), "an empty corpus must fail:\n{text}");
    assert!(text.contains("holds no capture or datagram file"), "{text}");
    std::fs::remove_dir_all(&corpus).expect("remove corpus");
    let (out, text) = run_counts(&copy);
    assert!(!out.status.success(), "a missing corpus must fail:\n{text}");
    assert!(text.contains("the sFlow test corpus is missing"), "{text}");
}

#[test]
fn nothing_reads_a_folder_beside_the_repository() {
    let root = package_root();
    // Spelled in pieces so this file does not match itself.
    let needle = ["..", "shared"].join("/");
    let roots = ["src", "tests", "benches", "fuzz", ".ci"];
    let files: Vec<PathBuf> = repository_files(&root)
        .into_iter()
        .filter(|f| roots.iter().any(|r| f.starts_with(r)))
        .collect();
    assert!(files.len() > 50, "{} files listed", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let bytes = std::fs::read(root.join(f)).expect("read");
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files mentioning {needle}: {offenders:?}"
    );
}
