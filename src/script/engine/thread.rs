//! The script thread's loop: start QuickJS, load every script and report the outcome,
//! then take records and events from the queue in batches, run the interval handlers,
//! hand changed definitions to the run loop at most once per [`APPLY_EVERY`], and send
//! the scripts' syslog batches whenever the queue is empty.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};
use rquickjs::Runtime;

use super::counters::ScriptCounters;
use super::deadline::Deadline;
use super::handlers::{handle_batch, run_intervals};
use super::load::{load_script, Script};
use super::{Definitions, Slot, APPLY_EVERY};
use crate::flow::FlowEvent;
use crate::script::api::{Common, Handler, Native, PerScript};
use crate::script::config::ScriptConfig;
use crate::script::syslog::SyslogOut;
use crate::sink::config::HostName;

/// Records handed to the handlers between two looks at timers and the syslog batches.
const BATCH: usize = 256;
/// Longest the idle thread sleeps before looking at its interval handlers.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// Where the script thread reports: the load's outcome, then the updates.
pub(super) struct Out {
    pub(super) loaded: mpsc::Sender<Result<Definitions, String>>,
    pub(super) update: Slot,
    pub(super) native: Arc<Mutex<Option<Native>>>,
}

/// The scripts' definitions as they stand on the script thread.
fn definitions(common: &Common, scripts: &[Script]) -> Definitions {
    Definitions {
        flows: common.flows.clone(),
        thresholds: common.thresholds.clone(),
        groups: common.groups.clone(),
        wanted: wanted_names(scripts, |s| &s.flow_handler),
        wanted_events: wanted_names(scripts, |s| &s.event_handler),
    }
}

pub(super) fn run(
    cfg: ScriptConfig,
    native: Native,
    rx: Receiver<Arc<FlowEvent>>,
    out: Out,
    counters: Arc<ScriptCounters>,
    stop: Arc<AtomicBool>,
) {
    let setup = || -> Result<(Runtime, Deadline), String> {
        let rt = Runtime::new().map_err(|e| format!("cannot start QuickJS: {e}"))?;
        rt.set_memory_limit(cfg.memory_bytes);
        rt.set_max_stack_size(1 << 20);
        let deadline = Deadline::install(&rt, &stop);
        Ok((rt, deadline))
    };
    let (rt, deadline) = match setup() {
        Ok(x) => x,
        Err(e) => {
            let _ = out.loaded.send(Err(e));
            return;
        }
    };
    let common = Rc::new(RefCell::new(Common {
        loading: true,
        changed: false,
        calls_after_load: Arc::clone(&counters.calls_after_load),
        native_groups: native
            .groups
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        flows: Vec::new(),
        thresholds: Vec::new(),
        groups: Vec::new(),
        native,
        properties: cfg.properties.clone(),
        syslog: SyslogOut::new(HostName::system().0, Arc::clone(&counters.syslog)),
    }));
    let mut scripts = Vec::with_capacity(cfg.files.len());
    for file in &cfg.files {
        match load_script(&rt, file, &common, &deadline) {
            Ok(s) => scripts.push(s),
            Err(e) => {
                let _ = out.loaded.send(Err(e));
                return;
            }
        }
    }
    common.borrow_mut().loading = false;
    let mut handed = definitions(&common.borrow(), &scripts);
    if out.loaded.send(Ok(handed.clone())).is_err() {
        return;
    }
    // So that a change made in the first handler run waits its period like any other.
    let mut handed_at = Instant::now();
    common.borrow_mut().syslog.flush();
    let timeout = Duration::from_millis(cfg.handler_timeout_ms);
    let mut batch: Vec<Arc<FlowEvent>> = Vec::with_capacity(BATCH);
    loop {
        let mut wait = next_interval(&scripts)
            .map_or(IDLE_WAIT, |t| t.saturating_duration_since(Instant::now()))
            .min(IDLE_WAIT);
        if common.borrow().changed {
            wait = wait.min((handed_at + APPLY_EVERY).saturating_duration_since(Instant::now()));
        }
        let closed = match rx.recv_timeout(wait) {
            Ok(e) => {
                batch.push(e);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            for s in &scripts {
                handle_batch(s, &batch, &deadline, timeout, &counters);
            }
            counters
                .handled
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.clear();
        }
        let native = out.native.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(n) = native {
            common.borrow_mut().set_native(n);
        }
        run_intervals(&scripts, &deadline, timeout, &counters);
        if common.borrow().changed && handed_at.elapsed() >= APPLY_EVERY {
            common.borrow_mut().changed = false;
            let now = definitions(&common.borrow(), &scripts);
            if now != handed {
                // Replaces one the run loop has not taken yet: the latest state wins.
                *out.update.lock().unwrap_or_else(|e| e.into_inner()) = Some(now.clone());
                counters.updates.fetch_add(1, Ordering::Relaxed);
                handed = now;
                handed_at = Instant::now();
            }
        }
        if rx.is_empty() {
            let mut c = common.borrow_mut();
            c.syslog.flush();
            if let Some(note) = c.syslog.note.take() {
                eprintln!("flowsift: script: {note}");
            }
        }
        if closed || stop.load(Ordering::Relaxed) {
            break;
        }
    }
    common.borrow_mut().syslog.flush();
}

/// The names the scripts' handlers of one kind take: `None` when one takes every name.
fn wanted_names(
    scripts: &[Script],
    handler: impl Fn(&PerScript) -> &Option<Handler>,
) -> Option<Vec<String>> {
    let mut wanted = Some(Vec::new());
    for s in scripts {
        if let Some(h) = handler(&s.state.borrow()) {
            match (&mut wanted, &h.names) {
                (Some(w), Some(names)) => w.extend(names.iter().cloned()),
                _ => wanted = None,
            }
        }
    }
    wanted
}

fn next_interval(scripts: &[Script]) -> Option<Instant> {
    scripts
        .iter()
        .filter_map(|s| s.state.borrow().interval.as_ref().map(|i| i.next))
        .min()
}
