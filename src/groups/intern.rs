//! Group names as small numbers, process-wide.
//!
//! A flow whose key is a group (`group:ipdestination:feeds`) stores the group's name in
//! its packed key as a 4-byte number, and its record prints the name. Interning names
//! once for the whole process gives every group set, table and filter the same number for
//! the same name, so a flow keeps its identity when a reload rebuilds the sets, and a
//! record's text is a `&'static str` the sinks print without a lookup in any set.
//!
//! Names are never freed, so the interner is bounded: at most [`MAX_NAMES`] names of at
//! most [`MAX_NAME_BYTES`] bytes each (16 MiB at worst; real sets name a handful of
//! groups). Past the bound, building a set fails with an error, nothing is dropped.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// Most distinct group names in one process.
pub const MAX_NAMES: usize = 65_536;
/// Longest group name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Default)]
struct Interner {
    ids: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

fn interner() -> &'static RwLock<Interner> {
    static I: OnceLock<RwLock<Interner>> = OnceLock::new();
    I.get_or_init(|| RwLock::new(Interner::default()))
}

/// The number of `name`, giving it one if it has none; `None` when the interner is full.
pub fn intern(name: &str) -> Option<u32> {
    let lock = interner();
    if let Some(&id) = lock.read().unwrap_or_else(|e| e.into_inner()).ids.get(name) {
        return Some(id);
    }
    let mut w = lock.write().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = w.ids.get(name) {
        return Some(id);
    }
    if w.names.len() >= MAX_NAMES || name.len() > MAX_NAME_BYTES {
        return None;
    }
    let id = w.names.len() as u32;
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    w.names.push(leaked);
    w.ids.insert(leaked, id);
    Some(id)
}

/// The name numbered `id`.
pub fn name(id: u32) -> Option<&'static str> {
    interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .names
        .get(id as usize)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_number() {
        let a = intern("intern-test-a").unwrap();
        let b = intern("intern-test-b").unwrap();
        assert_ne!(a, b);
        assert_eq!(intern("intern-test-a"), Some(a));
        assert_eq!(name(a), Some("intern-test-a"));
        assert_eq!(name(u32::MAX), None);
        assert_eq!(intern(&"x".repeat(MAX_NAME_BYTES + 1)), None);
    }
}
