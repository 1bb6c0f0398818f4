//! sFlow-RT applications run by `flowsift run --script`: the seed `syslog.js` against the
//! built-in `uport` (the same lines, byte for byte but for the time stamp), a DDoS script
//! (`setThreshold`, `setEventHandler`) against the same `[[threshold]]` configuration, a
//! blocklist script (`setGroups`, a `group:` filter), and the bad inputs: a script that
//! throws at load, one that calls a function flowsift lacks, bad threshold and group
//! specs, a handler that throws, a handler that never returns; and configuring after
//! load: a blocklist replaced by an interval handler, a flow set by an event handler, a
//! bad spec thrown with its reason, a tight loop of calls coalesced, names the
//! configuration file defines, a set it refuses, a flow it gains by SIGHUP, and a flow set
//! from a handler kept from the catch-all sink.
//!
//! One test binary, its modules the feature areas: `seed`, `apps` (the DDoS and
//! blocklist applications), `load_errors`, `handlers`, `after_load`; `util` holds the
//! helpers they share, beside the whole-program support in `tests/run_support/`.

#[path = "../run_support/mod.rs"]
mod run_support;
mod util;

mod after_load;
mod apps;
mod handlers;
mod load_errors;
mod seed;
