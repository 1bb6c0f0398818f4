//! The script thread: one QuickJS runtime, one context per script, fed by a bounded queue.
//!
//! QuickJS runs on this thread only (its runtime is not `Send`), so the thread is started
//! before the collector and loads the scripts itself: the load-time scan
//! ([`super::scan`]) refuses calls of functions nobody defines, then each file's top
//! level runs in its own context (its own globals, as sFlow-RT gives each script its
//! own). The
//! result (the flows the scripts defined, or the first error with file and line) goes
//! back to [`ScriptHost::load`], and the thread waits for flow records.
//!
//! Flow records and threshold events arrive as `Arc<FlowEvent>` through a bounded queue
//! that the syslog dispatcher fills without waiting (full: dropped and counted), so a slow
//! script never stalls the flow workers or receive. The thread takes them in batches and
//! calls each script's flow handler with sFlow-RT's record object, or its event handler
//! with sFlow-RT's event object; it sends the scripts' syslog batches whenever the queue
//! is empty. Each call runs under a deadline: QuickJS's
//! interrupt handler ends a call that runs past `handler_timeout_ms` (counted). A handler
//! that throws is logged (rate-limited) and the thread goes on. The scripts have no file
//! or socket access: the runtime has no `std`/`os` modules, and `syslog` is their only
//! way out.
//!
//! A configuring call from a handler (`setFlow`, `setGroups`, ... after load) changes the
//! scripts' definitions on this thread; the thread then leaves the whole new set
//! ([`Definitions`]) in a slot the run loop looks at ([`ScriptHost::take_update`]), and
//! the run loop applies it through the SIGHUP reload path, so unchanged flows keep their
//! state. Every call of a handler run lands in one apply, and a set is handed over at
//! most once per [`APPLY_EVERY`]: a script that reconfigures in a tight loop costs one
//! reload per period, with the latest state winning. A set equal to the last one handed
//! over is not handed over again.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use rquickjs::{Atom, CatchResultExt, CaughtError, Context, Ctx, Object, Runtime};

use super::api::{self, Common, Handler, Native, PerScript, RateLog, SUPPORTED};
use super::config::ScriptConfig;
use super::scan::scan;
use super::syslog::{SyslogCounters, SyslogOut};
use crate::clock::monotonic_nanos;
use crate::flow::{FlowEvent, FlowSpec};
use crate::groups::GroupSpec;
use crate::sink::config::HostName;
use crate::sink::{Tap, TapCounters};
use crate::threshold::ThresholdSpec;

/// Longest a script's top level may run when it loads.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Records handed to the handlers between two looks at timers and the syslog batches.
const BATCH: usize = 256;
/// Longest the idle thread sleeps before looking at its interval handlers.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// Shortest time between two sets of definitions handed to the run loop: each costs a
/// reload (new tables for changed flows, maybe a new sender), so a script reconfiguring
/// in a loop must not make the run loop do nothing else.
pub const APPLY_EVERY: Duration = Duration::from_millis(100);

/// Counters of the script thread.
#[derive(Debug, Default)]
pub struct ScriptCounters {
    /// Records and events queued for the handlers, and dropped because the queue was full.
    pub tap: Arc<TapCounters>,
    /// Records and events handed to the handlers.
    pub handled: AtomicU64,
    /// Handler calls that threw.
    pub errors: AtomicU64,
    /// Handler calls cut by the deadline.
    pub interrupted: AtomicU64,
    pub syslog: Arc<SyslogCounters>,
    /// Configuring calls made after load.
    pub calls_after_load: Arc<AtomicU64>,
    /// Sets of definitions handed to the run loop.
    pub updates: AtomicU64,
    /// Sets the run loop applied, and refused.
    pub applied: AtomicU64,
    pub refused: AtomicU64,
}

/// A snapshot of [`ScriptCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptStats {
    pub queued: u64,
    pub overflow: u64,
    pub handled: u64,
    pub errors: u64,
    pub interrupted: u64,
    pub syslog_sent: u64,
    pub syslog_batches: u64,
    pub syslog_dropped: u64,
    pub calls_after_load: u64,
    pub updates: u64,
    pub applied: u64,
    pub refused: u64,
}

impl fmt::Display for ScriptStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records and events queued {}, dropped (queue full) {}, handled {}, handler errors {}, \
             interrupted {}; syslog sent {}, send calls {}, dropped {}",
            self.queued,
            self.overflow,
            self.handled,
            self.errors,
            self.interrupted,
            self.syslog_sent,
            self.syslog_batches,
            self.syslog_dropped
        )?;
        if self.calls_after_load > 0 {
            write!(
                f,
                "; configuring calls after load {}, applies {} (applied {}, refused {})",
                self.calls_after_load, self.updates, self.applied, self.refused
            )?;
        }
        Ok(())
    }
}

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

/// One loaded script.
struct Script {
    ctx: Context,
    state: Rc<RefCell<PerScript>>,
}

impl Drop for Script {
    fn drop(&mut self) {
        // The handlers hold JavaScript functions, and the functions (through their
        // closures) hold this state: release the functions first, so the context and then
        // the runtime are freed with nothing still referenced.
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.flow_handler = None;
            s.event_handler = None;
            s.interval = None;
        }
    }
}

/// The deadline the interrupt handler enforces, shared with it.
struct Deadline {
    at_ns: Arc<AtomicU64>,
    fired: Arc<AtomicBool>,
}

impl Deadline {
    fn install(rt: &Runtime, stop: &Arc<AtomicBool>) -> Deadline {
        let at_ns = Arc::new(AtomicU64::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let (a, f, s) = (Arc::clone(&at_ns), Arc::clone(&fired), Arc::clone(stop));
        rt.set_interrupt_handler(Some(Box::new(move || {
            let at = a.load(Ordering::Relaxed);
            let cut = (at != 0 && monotonic_nanos() > at) || s.load(Ordering::Relaxed);
            if cut {
                f.store(true, Ordering::Relaxed);
            }
            cut
        })));
        Deadline { at_ns, fired }
    }

    fn arm(&self, bound: Duration) {
        self.fired.store(false, Ordering::Relaxed);
        let at = monotonic_nanos().saturating_add(bound.as_nanos() as u64);
        self.at_ns.store(at, Ordering::Relaxed);
    }

    /// Disarm; true when the call was cut.
    fn disarm(&self) -> bool {
        self.at_ns.store(0, Ordering::Relaxed);
        self.fired.swap(false, Ordering::Relaxed)
    }
}

/// `FILE:LINE: message` of an error a script's load raised.
fn describe(file: &str, err: CaughtError<'_>) -> String {
    match err {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let stack = ex.stack().unwrap_or_default();
            let line = line_in(&stack, file).or_else(|| {
                ex.get::<_, i32>("lineNumber")
                    .ok()
                    .map(|l| l.max(0) as usize)
            });
            let kind = ex
                .get::<_, String>("name")
                .unwrap_or_else(|_| "Error".into());
            match line {
                Some(l) => format!("{file}:{l}: {kind}: {message}"),
                None => format!("{file}: {kind}: {message}"),
            }
        }
        CaughtError::Value(v) => {
            let text = v
                .as_string()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{v:?}"));
            format!("{file}: uncaught exception: {text}")
        }
        CaughtError::Error(e) => format!("{file}: {e}"),
    }
}

/// The first `FILE:LINE` in a QuickJS stack trace.
fn line_in(stack: &str, file: &str) -> Option<usize> {
    let needle = format!("{file}:");
    let at = stack.find(&needle)? + needle.len();
    let digits: String = stack[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn load_script(
    rt: &Runtime,
    file: &PathBuf,
    common: &Rc<RefCell<Common>>,
    deadline: &Deadline,
) -> Result<Script, String> {
    let name = file.display().to_string();
    let src = std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let ctx = Context::full(rt).map_err(|e| format!("{name}: cannot create a context: {e}"))?;
    let state = Rc::new(RefCell::new(PerScript {
        file: name.clone(),
        flow_handler: None,
        event_handler: None,
        interval: None,
        log: RateLog::default(),
    }));
    // Made before the script runs, so that on any error its drop releases what the
    // script registered before the context goes.
    let script = Script { ctx, state };
    let state = &script.state;
    script.ctx.with(|ctx| -> Result<(), String> {
        api::install(&ctx, common, state).map_err(|e| format!("{name}: {e}"))?;
        // Before the top level runs, so a call at the top level is refused by name too.
        check_calls(&ctx, &name, &src)?;
        let mut opts = rquickjs::context::EvalOptions::default();
        opts.global = true;
        opts.strict = false;
        opts.filename = Some(name.clone());
        deadline.arm(LOAD_TIMEOUT);
        let result = ctx
            .eval_with_options::<(), _>(src.as_bytes(), opts)
            .catch(&ctx);
        if deadline.disarm() {
            return Err(format!(
                "{name}: its top level ran longer than {} s and was interrupted",
                LOAD_TIMEOUT.as_secs()
            ));
        }
        result.map_err(|e| describe(&name, e))
    })?;
    Ok(script)
}

/// Refuse calls of functions neither flowsift nor the script defines (see [`super::scan`]).
fn check_calls(ctx: &Ctx<'_>, file: &str, src: &str) -> Result<(), String> {
    let found = scan(src);
    let globals = ctx.globals();
    for call in &found.calls {
        if found.other.contains(&call.name)
            || globals.contains_key(call.name.as_str()).unwrap_or(false)
        {
            continue;
        }
        return Err(format!(
            "{file}:{}: {}() is not supported: it is neither one of flowsift's sFlow-RT functions nor defined by the script (supported: {})",
            call.line,
            call.name,
            SUPPORTED.join(", ")
        ));
    }
    Ok(())
}

/// Where the script thread reports: the load's outcome, then the updates.
struct Out {
    loaded: mpsc::Sender<Result<Definitions, String>>,
    update: Slot,
    native: Arc<Mutex<Option<Native>>>,
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

fn run(
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

/// Note a handler's failure: counted, and logged within the script's log budget.
fn failed(
    state: &Rc<RefCell<PerScript>>,
    what: &str,
    err: String,
    cut: bool,
    counters: &ScriptCounters,
) {
    if cut {
        counters.interrupted.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.errors.fetch_add(1, Ordering::Relaxed);
    }
    let mut s = state.borrow_mut();
    let PerScript { file, log, .. } = &mut *s;
    let msg = if cut {
        format!("{what} interrupted: it ran past its deadline")
    } else {
        format!("{what} threw: {err}")
    };
    log.log(file, "SEVERE", &msg);
}

fn caught_text(file: &str, e: CaughtError<'_>) -> String {
    describe(file, e)
}

/// A handler's function and the names it takes, restored into `ctx`.
struct Restored<'js> {
    function: rquickjs::Function<'js>,
    names: Option<Vec<String>>,
}

impl Restored<'_> {
    fn takes(&self, name: &str) -> bool {
        self.names
            .as_ref()
            .is_none_or(|n| n.iter().any(|n| n == name))
    }
}

/// Hand `batch` to `script`'s handlers: each threshold event to its event handler, each
/// record to its flow handler, when the handler takes that name.
fn handle_batch(
    script: &Script,
    batch: &[Arc<FlowEvent>],
    deadline: &Deadline,
    timeout: Duration,
    counters: &ScriptCounters,
) {
    let (flow, event, file) = {
        let s = script.state.borrow();
        if s.flow_handler.is_none() && s.event_handler.is_none() {
            return;
        }
        let saved = |h: &Option<Handler>| h.as_ref().map(|h| (h.function.clone(), h.names.clone()));
        (
            saved(&s.flow_handler),
            saved(&s.event_handler),
            s.file.clone(),
        )
    };
    script.ctx.with(|ctx| {
        let restore = |h: Option<(rquickjs::Persistent<rquickjs::Function<'static>>, _)>| {
            h.and_then(|(f, names)| {
                f.restore(&ctx)
                    .ok()
                    .map(|function| Restored { function, names })
            })
        };
        let (flow, event) = (restore(flow), restore(event));
        let mut maker = match RecordMaker::new(&ctx) {
            Ok(m) => m,
            Err(err) => {
                failed(&script.state, "handler", err.to_string(), false, counters);
                return;
            }
        };
        for e in batch {
            let (handler, what) = if e.threshold.is_some() {
                (&event, "event handler")
            } else {
                (&flow, "flow handler")
            };
            let Some(h) = handler.as_ref().filter(|h| h.takes(&e.name)) else {
                continue;
            };
            let made = if e.threshold.is_some() {
                maker.event(e)
            } else {
                maker.record(e)
            };
            let arg = match made {
                Ok(r) => r,
                Err(err) => {
                    failed(&script.state, what, err.to_string(), false, counters);
                    continue;
                }
            };
            deadline.arm(timeout);
            let r = h.function.call::<_, ()>((arg,)).catch(&ctx);
            let cut = deadline.disarm();
            if let Err(err) = r {
                let text = caught_text(&file, err);
                failed(&script.state, what, text, cut, counters);
            }
        }
    });
}

fn run_intervals(
    scripts: &[Script],
    deadline: &Deadline,
    timeout: Duration,
    counters: &ScriptCounters,
) {
    let now = Instant::now();
    for s in scripts {
        let (function, file) = {
            let mut st = s.state.borrow_mut();
            let file = st.file.clone();
            let Some(i) = st.interval.as_mut() else {
                continue;
            };
            if i.next > now {
                continue;
            }
            i.next = now + i.every;
            (i.function.clone(), file)
        };
        s.ctx.with(|ctx| {
            let Ok(f) = function.restore(&ctx) else {
                return;
            };
            let now_ms = (crate::metrics::unix_now() * 1000.0).floor();
            deadline.arm(timeout);
            let r = f.call::<_, ()>((now_ms,)).catch(&ctx);
            let cut = deadline.disarm();
            if let Err(err) = r {
                let text = caught_text(&file, err);
                failed(&s.state, "interval handler", text, cut, counters);
            }
        });
    }
}

/// Builds sFlow-RT's flow records (`flowID`, `name`, `flowKeys`, `value`, `start`, `end`,
/// `agent`, `dataSource`) and threshold events (`eventID`, `thresholdID`, `metric`,
/// `agent`, `dataSource`, `flowKey`, `value`, `threshold`, `timestamp`) for one batch:
/// the property names are atoms made once, the last definition name's string is reused
/// and the texts are written without `core::fmt`, so a record costs its own values only.
///
/// QuickJS frees an object's shape (its property layout) with the last object using it,
/// and each property added makes a new shape; a record freed after its handler returns
/// would take its shapes with it, and the next record would build (allocate and hash) all
/// of them again. So the maker keeps, for the batch, one object at each step of the
/// records' and events' layouts: every record then finds its shapes in QuickJS's table.
struct RecordMaker<'js> {
    ctx: Ctx<'js>,
    atoms: Vec<Atom<'js>>,
    /// Made at the first event of the batch: most batches hold records only.
    event_atoms: Vec<Atom<'js>>,
    /// Objects holding every shape a record or an event passes through.
    shapes: Vec<Object<'js>>,
    name: Option<(Arc<str>, rquickjs::String<'js>)>,
    text: Vec<u8>,
}

impl<'js> RecordMaker<'js> {
    const FIELDS: [&'static str; 8] = [
        "flowID",
        "name",
        "flowKeys",
        "value",
        "start",
        "end",
        "agent",
        "dataSource",
    ];

    /// sFlow-RT's event fields; `status` (`end`) only on a re-arm event, which sFlow-RT
    /// does not send.
    const EVENT_FIELDS: [&'static str; 10] = [
        "eventID",
        "thresholdID",
        "metric",
        "agent",
        "dataSource",
        "flowKey",
        "value",
        "threshold",
        "timestamp",
        "status",
    ];

    fn new(ctx: &Ctx<'js>) -> rquickjs::Result<RecordMaker<'js>> {
        let atoms = Self::FIELDS
            .iter()
            .map(|n| Atom::from_str(ctx.clone(), n))
            .collect::<rquickjs::Result<Vec<_>>>()?;
        let mut maker = RecordMaker {
            ctx: ctx.clone(),
            atoms,
            event_atoms: Vec::new(),
            shapes: Vec::new(),
            name: None,
            text: Vec::with_capacity(64),
        };
        maker.keep_shapes(false)?;
        Ok(maker)
    }

    /// Keep an object at each step of the record layout (`events`: of the event layout,
    /// with and without `flowKey`).
    fn keep_shapes(&mut self, events: bool) -> rquickjs::Result<()> {
        let layouts: Vec<Vec<Atom<'js>>> = if events {
            let all = &self.event_atoms;
            // Flow metrics carry `flowKey` (index 5), interface metrics do not.
            let without: Vec<Atom<'js>> = (all.iter().enumerate())
                .filter(|&(i, _)| i != 5)
                .map(|(_, a)| a.clone())
                .collect();
            vec![all.clone(), without]
        } else {
            vec![self.atoms.clone()]
        };
        for layout in layouts {
            for n in 1..=layout.len() {
                let o = Object::new(self.ctx.clone())?;
                for a in &layout[..n] {
                    o.set(a.clone(), 0)?;
                }
                self.shapes.push(o);
            }
        }
        Ok(())
    }

    /// `self.text` as a JavaScript string (ASCII, or the UTF-8 separator).
    fn text(&self) -> rquickjs::Result<rquickjs::String<'js>> {
        rquickjs::String::from_str(
            self.ctx.clone(),
            std::str::from_utf8(&self.text).unwrap_or(""),
        )
    }

    fn record(&mut self, e: &FlowEvent) -> rquickjs::Result<Object<'js>> {
        use crate::sink::format::{push_ip, push_key_value, push_u64};
        let name = match &self.name {
            Some((n, js)) if Arc::ptr_eq(n, &e.name) => js.clone(),
            _ => {
                let js = rquickjs::String::from_str(self.ctx.clone(), &e.name)?;
                self.name = Some((Arc::clone(&e.name), js.clone()));
                js
            }
        };
        let o = Object::new(self.ctx.clone())?;
        let atom = |i: usize| self.atoms[i].clone();
        o.set(atom(0), e.flow_id as f64)?;
        o.set(atom(1), name)?;
        self.text.clear();
        for (i, (_, v)) in e.keys.iter().enumerate() {
            if i > 0 {
                self.text.extend_from_slice(e.separator.as_bytes());
            }
            push_key_value(v, &mut self.text);
        }
        o.set(self.atoms[2].clone(), self.text()?)?;
        o.set(self.atoms[3].clone(), e.value)?;
        o.set(self.atoms[4].clone(), e.start_ms as f64)?;
        o.set(self.atoms[5].clone(), e.end_ms as f64)?;
        self.text.clear();
        push_ip(e.agent, &mut self.text);
        o.set(self.atoms[6].clone(), self.text()?)?;
        self.text.clear();
        push_u64(u64::from(e.data_source), &mut self.text);
        o.set(self.atoms[7].clone(), self.text()?)?;
        Ok(o)
    }

    /// The event object of a threshold event (`e.threshold` is set): `flowKey` for a flow
    /// metric only, as sFlow-RT gives it.
    fn event(&mut self, e: &FlowEvent) -> rquickjs::Result<Object<'js>> {
        use crate::sink::format::{push_ip, push_key_value, push_u64};
        let Some(t) = &e.threshold else {
            return self.record(e);
        };
        if self.event_atoms.is_empty() {
            self.event_atoms = Self::EVENT_FIELDS
                .iter()
                .map(|n| Atom::from_str(self.ctx.clone(), n))
                .collect::<rquickjs::Result<Vec<_>>>()?;
            self.keep_shapes(true)?;
        }
        let atom = |i: usize| self.event_atoms[i].clone();
        let o = Object::new(self.ctx.clone())?;
        o.set(atom(0), e.flow_id as f64)?;
        o.set(atom(1), &*e.name)?;
        o.set(atom(2), &*t.metric)?;
        self.text.clear();
        push_ip(e.agent, &mut self.text);
        o.set(atom(3), self.text()?)?;
        self.text.clear();
        push_u64(u64::from(e.data_source), &mut self.text);
        o.set(atom(4), self.text()?)?;
        if !e.keys.is_empty() {
            self.text.clear();
            for (i, (_, v)) in e.keys.iter().enumerate() {
                if i > 0 {
                    self.text.extend_from_slice(e.separator.as_bytes());
                }
                push_key_value(v, &mut self.text);
            }
            o.set(atom(5), self.text()?)?;
        }
        o.set(atom(6), e.value)?;
        o.set(atom(7), t.threshold)?;
        o.set(atom(8), e.start_ms as f64)?;
        if t.end {
            o.set(atom(9), "end")?;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts' configuration after loading `src` (one script).
    fn load(src: &str, native: Native) -> Result<ScriptHost, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.js");
        std::fs::write(&path, src).unwrap();
        let cfg = ScriptConfig {
            files: vec![path],
            ..ScriptConfig::default()
        };
        ScriptHost::load_with(&cfg, native)
    }

    #[test]
    fn set_replaces_by_name_and_clear_removes() {
        let host = load(
            "setGroups('g', {a: ['10.0.0.0/8']});\n\
             setGroups('g', {b: ['10.0.0.0/8'], c: ['192.0.2.0/24']});\n\
             setFlow('f', {keys: 'group:ipsource:g', value: 'bytes'});\n\
             setFlow('gone', {keys: 'ipsource'});\n\
             clearFlow('gone');\n\
             setThreshold('t', {metric: 'f', value: 5});\n\
             setThreshold('t', {metric: 'f', value: 7, byFlow: true, timeout: 2});\n\
             setThreshold('x', {metric: 'ifinutilization', value: 80});\n\
             clearThreshold('x');\n\
             setEventHandler(function(evt) {}, ['t']);\n",
            Native::default(),
        )
        .unwrap();
        let groups: Vec<_> = host.groups().iter().map(|g| g.name.as_str()).collect();
        assert_eq!(groups, ["g"]);
        assert_eq!(
            host.groups()[0].groups.keys().collect::<Vec<_>>(),
            ["b", "c"]
        );
        let flows: Vec<_> = host.flows().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(flows, ["f"]);
        let t = host.thresholds();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].name.as_str(), t[0].value, t[0].by_flow, t[0].timeout),
            ("t", 7.0, true, 2)
        );
        // The tap takes the threshold's events, no flow's records, and owns both names.
        let tap = host.tap().unwrap();
        assert_eq!(tap.thresholds, Some(vec!["t".to_string()]));
        assert_eq!(tap.flows, Some(Vec::new()));
        assert_eq!(tap.own, ["f", "t"]);
    }

    #[test]
    fn specs_are_checked_against_the_configuration() {
        // A threshold on a [[flow]], a flow reading a [[group]] set: accepted.
        let mut groups = crate::groups::Groups::default();
        groups
            .insert(crate::groups::GroupSet::from_map("site", &[("lan", ["10.0.0.0/8"])]).unwrap());
        let native = Native {
            flows: vec![toml::from_str("name = \"udp\"\nkeys = \"ipdestination\"").unwrap()],
            groups,
            ..Native::default()
        };
        let host = load(
            "setFlow('lan', {keys: 'ipsource', filter: 'group:ipsource:site=lan'});\n\
             setThreshold('ddos', {metric: 'udp', value: 1000, byFlow: true});\n",
            native,
        )
        .unwrap();
        assert_eq!(host.thresholds()[0].metric, "udp");
        // Without them, the same script fails at the first line naming what is missing.
        let err = load(
            "setFlow('lan', {keys: 'ipsource', filter: 'group:ipsource:site=lan'});\n",
            Native::default(),
        )
        .err()
        .unwrap();
        assert!(
            err.contains("app.js:1: Error: setFlow: ") && err.contains("site"),
            "{err}"
        );
        let err = load(
            "setThreshold('ddos', {metric: 'udp', value: 1000});\n",
            Native::default(),
        )
        .err()
        .unwrap();
        assert!(
            err.contains("app.js:1: Error: setThreshold: threshold 'ddos': unknown metric 'udp'; flow definitions: none"),
            "{err}"
        );
        // A group name the group sets refuse is refused where setGroups is called.
        let err = load("setGroups('g', {'': ['10.0.0.0/8']});\n", Native::default())
            .err()
            .unwrap();
        assert!(
            err.contains("app.js:1: Error: setGroups: group set 'g'"),
            "{err}"
        );
    }

    /// Wait (bounded) until `done` holds.
    fn until(mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn configuring_after_load_hands_over_the_whole_set_once_per_change() {
        let mut host = load(
            "var n = 0;\n\
             setIntervalHandler(function() {\n\
               n++;\n\
               if (n == 1) { setGroups('late', {a: ['10.0.0.0/8']}); setFlow('f', {keys: 'group:ipsource:late'}); }\n\
               if (n == 2) setFlowHandler(function(r) {}, ['f']);\n\
             }, 0.1);\n",
            Native::default(),
        )
        .unwrap();
        assert!(host.groups().is_empty() && host.flows().is_empty());
        let mut first = None;
        until(|| {
            first = host.take_update();
            first.is_some()
        });
        // Both calls of the first run in one update.
        let first = first.expect("an update");
        assert_eq!(first.groups[0].name, "late");
        assert_eq!(first.flows[0].name, "f");
        assert_eq!(first.wanted, Some(Vec::new()));
        host.accept(first);
        assert_eq!(host.flows()[0].name, "f");
        let mut second = None;
        until(|| {
            second = host.take_update();
            second.is_some()
        });
        // The handler's name list is part of the set: the sender's hook changes with it.
        let second = second.expect("a second update");
        assert_eq!(second.wanted, Some(vec!["f".to_string()]));
        assert_eq!(
            host.tap_for(&second).unwrap().flows,
            Some(vec!["f".to_string()])
        );
        host.refuse();
        // Nothing changes after that: no more updates.
        std::thread::sleep(Duration::from_millis(300));
        assert!(host.take_update().is_none());
        let stats = host.stats();
        assert_eq!(
            (
                stats.calls_after_load,
                stats.updates,
                stats.applied,
                stats.refused,
                stats.errors
            ),
            (3, 2, 1, 1, 0),
            "{stats}"
        );
    }

    #[test]
    fn a_bad_spec_after_load_throws_its_reason_and_changes_nothing() {
        let host = load(
            "setIntervalHandler(function() {\n\
               try { setThreshold('t', {metric: 'nothing', value: 1}); }\n\
               catch (e) { setGroups('caught', {x: ['192.0.2.0/24']}); logInfo('caught: ' + e.message); }\n\
               setGroups('g', {'': ['10.0.0.0/8']});\n\
             }, 0.1);\n",
            Native::default(),
        )
        .unwrap();
        until(|| host.stats().errors >= 1);
        assert!(host.stats().errors >= 1, "{}", host.stats());
        let mut update = None;
        until(|| {
            update = host.take_update();
            update.is_some()
        });
        // The refused threshold and group set are not in the set; what was caught is.
        let update = update.expect("an update");
        assert!(update.thresholds.is_empty());
        let names: Vec<_> = update.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["caught"]);
    }

    #[test]
    fn a_tight_loop_of_configuring_calls_is_coalesced() {
        let host = load(
            "var runs = 0;\n\
             setIntervalHandler(function() {\n\
               runs++;\n\
               for (var i = 0; i < 1000; i++) setFlow('f' + (i % 10), {keys: 'ipsource', maxEntries: runs * 1000 + i});\n\
             }, 0.1);\n",
            Native::default(),
        )
        .unwrap();
        let started = Instant::now();
        until(|| host.stats().calls_after_load >= 3000);
        let mut taken = 0;
        let mut last = None;
        while started.elapsed() < Duration::from_millis(1000) {
            if let Some(u) = host.take_update() {
                taken += 1;
                last = Some(u);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let stats = host.stats();
        let runs = stats.calls_after_load / 1000;
        assert!(stats.calls_after_load >= 3000, "{stats}");
        // At most one update per handler run and per 100 ms, whatever the calls.
        assert!(stats.updates <= runs + 1, "{stats}");
        let elapsed_ms = started.elapsed().as_millis() as u64 + 5000;
        assert!(stats.updates <= elapsed_ms / 100 + 1, "{stats}");
        assert!(
            taken >= 1 && taken as u64 <= stats.updates,
            "{taken} {stats}"
        );
        // The latest state wins: each flow with the last maxEntries of one run.
        let last = last.expect("an update");
        let max: Vec<_> = last.flows.iter().filter_map(|f| f.max_entries).collect();
        assert_eq!(max.len(), 10, "{max:?}");
        let run = max[0] / 1000;
        let want: Vec<usize> = (0..10).map(|k| run * 1000 + 990 + k).collect();
        assert_eq!(max, want);
    }
}
