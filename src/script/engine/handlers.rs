//! Calling the scripts' handlers: each record of a batch to the flow handler that takes
//! its flow, each threshold event to the event handler that takes its threshold, the
//! interval handlers when due; every call under the deadline, and a failure (a throw, or
//! a call cut by the deadline) counted and logged within the script's log budget.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, CaughtError};

use super::counters::ScriptCounters;
use super::deadline::Deadline;
use super::load::{describe, Script};
use super::objects::RecordMaker;
use crate::flow::FlowEvent;
use crate::script::api::{Handler, PerScript};

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
pub(super) fn handle_batch(
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

pub(super) fn run_intervals(
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
