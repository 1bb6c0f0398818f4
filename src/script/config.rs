//! `[script]`: the sFlow-RT applications to run and the system properties they read.
//!
//! ```toml
//! [script]
//! files = ["/etc/flowsift/syslog.js"]
//! properties = { "siem.host" = "10.0.0.1" }
//! ```
//!
//! The command line adds to it: `--script FILE` (repeatable), and sFlow-RT's own spelling
//! `-Dname=value`, where `-Dscript.file=FILE` names a script as sFlow-RT's start script
//! does and any other name is a property for `getSystemProperty`.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The property that names a script file, as sFlow-RT spells it (`-Dscript.file=FILE`).
pub const SCRIPT_FILE_PROPERTY: &str = "script.file";

/// `[script]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// sFlow-RT JavaScript applications, loaded in order on one script thread. With any
    /// script and no `[[flow]]` or `[[sink]]` table, the scripts alone define flows and
    /// destinations (no default `uport`, no default sink).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// System properties for `getSystemProperty(name)` (sFlow-RT's `-Dname=value`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Flow records and threshold events waiting for the scripts' handlers; what does not
    /// fit is dropped and counted, so a slow script never stalls the flow engine.
    #[serde(default = "default_queue")]
    pub queue: NonZeroUsize,
    /// Longest one handler call (or a script's load) may run, in milliseconds, before it
    /// is interrupted and counted.
    #[serde(default = "default_handler_timeout_ms")]
    pub handler_timeout_ms: u64,
    /// Most bytes of memory the scripts' JavaScript heap may take.
    #[serde(default = "default_memory_bytes")]
    pub memory_bytes: usize,
}

fn default_queue() -> NonZeroUsize {
    NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)
}
fn default_handler_timeout_ms() -> u64 {
    100
}
fn default_memory_bytes() -> usize {
    256 << 20
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            files: Vec::new(),
            properties: BTreeMap::new(),
            queue: default_queue(),
            handler_timeout_ms: default_handler_timeout_ms(),
            memory_bytes: default_memory_bytes(),
        }
    }
}

impl ScriptConfig {
    /// True when no script runs.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Apply one `-Dname=value` argument (the text after `-D`): `script.file` adds a
    /// script, anything else sets a property.
    pub fn define(&mut self, arg: &str) -> Result<(), String> {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(format!(
                "-D{arg}: expected -Dname=value (for example -Dscript.file=syslog.js)"
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("-D{arg}: the property name is empty"));
        }
        if name == SCRIPT_FILE_PROPERTY {
            if value.is_empty() {
                return Err(format!("-D{arg}: no file named"));
            }
            self.files.push(PathBuf::from(value));
        } else {
            self.properties.insert(name.to_owned(), value.to_owned());
        }
        Ok(())
    }

    /// Whole-table checks.
    pub fn check(&self) -> Result<(), String> {
        if self.handler_timeout_ms == 0 {
            return Err("script.handler_timeout_ms must be greater than 0".into());
        }
        if self.memory_bytes < 1 << 20 {
            return Err("script.memory_bytes must be at least 1048576 (1 MiB)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_split_into_files_and_properties() {
        let mut c = ScriptConfig::default();
        c.define("script.file=a.js").unwrap();
        c.define("siem.host=10.0.0.1").unwrap();
        c.define("empty=").unwrap();
        c.define("eq=a=b").unwrap();
        assert_eq!(c.files, vec![PathBuf::from("a.js")]);
        assert_eq!(c.properties["siem.host"], "10.0.0.1");
        assert_eq!(c.properties["empty"], "");
        assert_eq!(c.properties["eq"], "a=b");
        for bad in ["novalue", "=x", "script.file="] {
            let e = c.define(bad).unwrap_err();
            assert!(e.starts_with(&format!("-D{bad}:")), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ScriptConfig>("file = []").is_err());
        let c: ScriptConfig = toml::from_str("files = [\"x.js\"]\n").unwrap();
        assert_eq!(c.queue.get(), 65_536);
        assert_eq!(c.handler_timeout_ms, 100);
    }
}
