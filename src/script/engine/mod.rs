//! The script thread: one QuickJS runtime, one context per script, fed by a bounded queue.
//!
//! QuickJS runs on this thread only (its runtime is not `Send`), so the thread is started
//! before the collector and loads the scripts itself: the load-time scan
//! ([`super::scan`]) refuses calls of functions nobody defines, then each file's top
//! level runs in its own context (its own globals, as sFlow-RT gives each script its
//! own). The result (the flows the scripts defined, or the first error with file and
//! line) goes back to [`ScriptHost::load`], and the thread waits for flow records.
//!
//! Flow records and threshold events arrive as `Arc<FlowEvent>` through a bounded queue
//! that the syslog dispatcher fills without waiting (full: dropped and counted), so a slow
//! script never stalls the flow workers or receive. The thread takes them in batches and
//! calls each script's flow handler with sFlow-RT's record object, or its event handler
//! with sFlow-RT's event object; it sends the scripts' syslog batches whenever the queue
//! is empty. Each call runs under a deadline: QuickJS's interrupt handler ends a call
//! that runs past `handler_timeout_ms` (counted). A handler that throws is logged
//! (rate-limited) and the thread goes on. The scripts have no file or socket access: the
//! runtime has no `std`/`os` modules, and `syslog` is their only way out.
//!
//! A configuring call from a handler (`setFlow`, `setGroups`, ... after load) changes the
//! scripts' definitions on this thread; the thread then leaves the whole new set
//! ([`Definitions`]) in a slot the run loop looks at ([`ScriptHost::take_update`]), and
//! the run loop applies it through the SIGHUP reload path, so unchanged flows keep their
//! state. Every call of a handler run lands in one apply, and a set is handed over at
//! most once per [`APPLY_EVERY`]: a script that reconfigures in a tight loop costs one
//! reload per period, with the latest state winning. A set equal to the last one handed
//! over is not handed over again.
//!
//! Laid out by role:
//!
//! - `mod.rs`: [`ScriptHost`], the run loop's side (start, definitions, updates, tap,
//!   shutdown);
//! - `thread`: the script thread's loop;
//! - `load`: loading one script and the load-time errors;
//! - `handlers`: calling the flow, event and interval handlers, and their failures;
//! - `objects`: sFlow-RT's record and event objects handed to the handlers;
//! - `deadline`: the interrupt deadline every call runs under;
//! - `counters`: [`ScriptCounters`] and their snapshot [`ScriptStats`].

mod counters;
mod deadline;
mod handlers;
mod load;
mod objects;
#[cfg(test)]
mod tests;
mod thread;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Sender};

use super::api::Native;
use super::config::ScriptConfig;
use crate::flow::{FlowEvent, FlowSpec};
use crate::groups::GroupSpec;
use crate::sink::Tap;
use crate::threshold::ThresholdSpec;

pub use counters::{ScriptCounters, ScriptStats};
use thread::{run, Out};

/// Shortest time between two sets of definitions handed to the run loop: each costs a
/// reload (new tables for changed flows, maybe a new sender), so a script reconfiguring
/// in a loop must not make the run loop do nothing else.
pub const APPLY_EVERY: Duration = Duration::from_millis(100);

/// What the scripts define: flows, thresholds, group sets and the names their handlers
/// take.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definitions {
    pub flows: Vec<FlowSpec>,
    pub thresholds: Vec<ThresholdSpec>,
    pub groups: Vec<GroupSpec>,
    /// Flow names some flow handler takes; `None`: every flow.
    pub wanted: Option<Vec<String>>,
    /// Threshold names some event handler takes; `None`: every threshold.
    pub wanted_events: Option<Vec<String>>,
}

/// The latest definitions the script thread handed over, not yet taken by the run loop.
type Slot = Arc<Mutex<Option<Definitions>>>;

/// The running script thread.
pub struct ScriptHost {
    /// The definitions in force (loaded, or the last update applied).
    defs: Definitions,
    update: Slot,
    /// The configuration's definitions after a SIGHUP, for the thread's checks.
    native: Arc<Mutex<Option<Native>>>,
    queue: Option<Sender<Arc<FlowEvent>>>,
    counters: Arc<ScriptCounters>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl ScriptHost {
    /// Start the thread and load every script; an error names the file and line.
    pub fn load(cfg: &ScriptConfig) -> Result<ScriptHost, String> {
        ScriptHost::load_with(cfg, Native::default())
    }

    /// [`ScriptHost::load`] beside the configuration file's definitions (`native`): the
    /// scripts' flows may use its group sets, their thresholds may watch its flows.
    pub fn load_with(cfg: &ScriptConfig, native: Native) -> Result<ScriptHost, String> {
        cfg.check()?;
        let (tx, rx) = channel::bounded(cfg.queue.get());
        let counters = Arc::new(ScriptCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let update: Slot = Arc::default();
        let new_native: Arc<Mutex<Option<Native>>> = Arc::default();
        let (loaded_tx, loaded_rx) = mpsc::channel();
        let thread = {
            let cfg = cfg.clone();
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let out = Out {
                loaded: loaded_tx,
                update: Arc::clone(&update),
                native: Arc::clone(&new_native),
            };
            std::thread::Builder::new()
                .name("flowsift-script".into())
                .spawn(move || run(cfg, native, rx, out, counters, stop))
                .map_err(|e| format!("cannot start the script thread: {e}"))?
        };
        let loaded = loaded_rx
            .recv()
            .map_err(|_| "the script thread stopped while loading".to_string())
            .and_then(|r| r);
        match loaded {
            Ok(defs) => Ok(ScriptHost {
                defs,
                update,
                native: new_native,
                queue: Some(tx),
                counters,
                thread: Some(thread),
                stop,
            }),
            Err(e) => {
                drop(tx);
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// The flows the scripts defined with `setFlow`.
    pub fn flows(&self) -> &[FlowSpec] {
        &self.defs.flows
    }

    /// The thresholds the scripts defined with `setThreshold`.
    pub fn thresholds(&self) -> &[ThresholdSpec] {
        &self.defs.thresholds
    }

    /// The group sets the scripts defined with `setGroups`.
    pub fn groups(&self) -> &[GroupSpec] {
        &self.defs.groups
    }

    /// The definitions in force.
    pub fn definitions(&self) -> &Definitions {
        &self.defs
    }

    /// The definitions the scripts changed to after load, once per change (coalesced:
    /// the latest wins). The caller applies them and then calls [`ScriptHost::accept`]
    /// or [`ScriptHost::refuse`].
    pub fn take_update(&self) -> Option<Definitions> {
        self.update.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// `defs` (from [`ScriptHost::take_update`]) were applied: they are now in force.
    pub fn accept(&mut self, defs: Definitions) {
        self.counters.applied.fetch_add(1, Ordering::Relaxed);
        self.defs = defs;
    }

    /// The configuration file changed (SIGHUP): the specs set from handlers from now on
    /// are checked against `native`.
    pub fn set_native(&self, native: Native) {
        *self.native.lock().unwrap_or_else(|e| e.into_inner()) = Some(native);
    }

    /// The update could not be applied: the definitions in force stay.
    pub fn refuse(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The sender's hook: records of the flows the flow handlers take, events of the
    /// thresholds the event handlers take.
    pub fn tap(&self) -> Option<Tap> {
        self.tap_for(&self.defs)
    }

    /// [`ScriptHost::tap`] as it would be with `defs` in force.
    pub fn tap_for(&self, defs: &Definitions) -> Option<Tap> {
        let queue = self.queue.clone()?;
        let own = (defs.flows.iter().map(|f| f.name.clone()))
            .chain(defs.thresholds.iter().map(|t| t.name.clone()))
            .collect();
        Some(Tap {
            flows: defs.wanted.clone(),
            thresholds: defs.wanted_events.clone(),
            own,
            queue,
            counters: Arc::clone(&self.counters.tap),
        })
    }

    pub fn stats(&self) -> ScriptStats {
        let c = &self.counters;
        ScriptStats {
            queued: c.tap.queued.load(Ordering::Relaxed),
            overflow: c.tap.overflow.load(Ordering::Relaxed),
            handled: c.handled.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            interrupted: c.interrupted.load(Ordering::Relaxed),
            syslog_sent: c.syslog.sent.load(Ordering::Relaxed),
            syslog_batches: c.syslog.batches.load(Ordering::Relaxed),
            syslog_dropped: c.syslog.dropped.load(Ordering::Relaxed),
            calls_after_load: c.calls_after_load.load(Ordering::Relaxed),
            updates: c.updates.load(Ordering::Relaxed),
            applied: c.applied.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// Let the thread handle what is queued (the sender, already stopped, holds no more
    /// taps), send its syslog batches and stop, within `timeout`; then stop it anyway.
    pub fn shutdown(mut self, timeout: Duration) -> ScriptStats {
        self.finish(timeout);
        self.stats()
    }

    fn finish(&mut self, timeout: Duration) {
        drop(self.queue.take());
        let deadline = Instant::now() + timeout;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            self.stop.store(true, Ordering::Release);
            let _ = t.join();
        }
    }
}

impl Drop for ScriptHost {
    fn drop(&mut self) {
        self.finish(Duration::ZERO);
    }
}
