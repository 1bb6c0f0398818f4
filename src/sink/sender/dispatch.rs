//! The dispatcher thread (two or more destinations): takes events from the worker rings,
//! round-robin in bursts, and offers each to the bounded queue of every destination that
//! takes its flow. It only selects and queues (a flow-name check and an `Arc` clone per
//! destination), so a slow destination fills, and loses from, its own queue only.
//!
//! A [`Tap`] (the script thread's queue of records and threshold events) is one more route
//! of the dispatcher: it takes what the scripts' handlers name, and a destination whose
//! `flows` list is empty does not take what the scripts defined.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{Sender, TrySendError};

use super::Shared;
use crate::flow::FlowEvent;
use crate::ring::Consumer;
use crate::wake::IdleSpin;

/// Longest the idle dispatcher parks. Worker commits and shutdown wake it at once; this is
/// only a safety net (a ring whose doorbell was attached elsewhere is still drained), long
/// enough that a lost wake-up would show in the tests.
pub(super) const DISPATCH_PARK_MAX: Duration = Duration::from_secs(1);
/// Events taken from one ring before looking at the next (fairness between workers).
const DISPATCH_BURST: usize = 1024;

/// A consumer of flow records and threshold events beside the syslog destinations (the
/// script thread): the dispatcher offers it every record of the flows, and every event of
/// the thresholds, it takes, without waiting (a full queue drops it and counts it).
#[derive(Clone)]
pub struct Tap {
    /// Flow names whose records it takes; `None`: every flow.
    pub flows: Option<Vec<String>>,
    /// Threshold names whose events it takes; `None`: every threshold.
    pub thresholds: Option<Vec<String>>,
    /// Flows and thresholds it defined: a destination whose `flows` list is empty (all
    /// flows) does not take these; one that names them does.
    pub own: Vec<String>,
    pub queue: Sender<Arc<FlowEvent>>,
    pub counters: Arc<TapCounters>,
}

/// What a [`Tap`] was offered.
#[derive(Debug, Default)]
pub struct TapCounters {
    /// Records and events queued.
    pub queued: AtomicU64,
    /// Records and events dropped because the queue was full.
    pub overflow: AtomicU64,
}

impl Tap {
    /// Whether a handler takes `event`: a threshold's event by the threshold's name, a
    /// record by its flow's (a threshold may share its flow's name).
    fn wants(&self, event: &FlowEvent) -> bool {
        let names = if event.threshold.is_some() {
            &self.thresholds
        } else {
            &self.flows
        };
        names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| **n == *event.name))
    }
}

/// One destination as the dispatcher sees it: its queue and the flows it takes.
pub(super) struct DestinationQueue {
    pub(super) flows: Vec<String>,
    pub(super) queue: Sender<Arc<FlowEvent>>,
}

/// Move events from the worker rings to the destination queues until the rings are
/// finished (every producer gone and drained) or shutdown asks for a last pass.
pub(super) fn dispatch(
    mut rings: Vec<Consumer<FlowEvent>>,
    queues: Vec<DestinationQueue>,
    tap: Option<Tap>,
    shared: &Shared,
) {
    crate::sched::apply_wake_slice();
    let mut idle = IdleSpin::default();
    loop {
        // Read `stop` before the pass: a pass that starts after it was set sees everything
        // the (already stopped) workers pushed.
        let stopping = shared.stop.load(Ordering::Acquire);
        if shared.hand_back(&mut rings) {
            break;
        }
        let mut moved = 0usize;
        for ring in rings.iter_mut() {
            for _ in 0..DISPATCH_BURST {
                let Some(event) = ring.pop() else { break };
                moved += 1;
                fan_out(Arc::new(event), &queues, tap.as_ref(), shared);
            }
        }
        if moved > 0 {
            shared.events.fetch_add(moved as u64, Ordering::Relaxed);
            idle.reset();
            continue;
        }
        if !rings.is_empty() && rings.iter().all(Consumer::is_finished) {
            shared.inputs_finished.store(true, Ordering::Release);
            break;
        }
        if stopping {
            break;
        }
        if idle.spin() {
            continue;
        }
        let rings = &rings;
        // Re-checked after the doorbell's flag is up (see `crate::wake`): a commit, a
        // dropped producer or `stop` from here on shows up in this check or unparks us.
        shared.doorbell.park_timeout(DISPATCH_PARK_MAX, || {
            !shared.stop.load(Ordering::Acquire)
                && !shared.handover.load(Ordering::Acquire)
                && rings.iter().all(Consumer::is_empty)
                && (rings.is_empty() || !rings.iter().all(Consumer::is_finished))
        });
    }
    // Dropping `queues` closes them: destinations finish what they hold and exit.
}

/// Offer `event` to every destination queue that takes its flow (full: overflow, counted),
/// and to the tap when a script's handler takes it.
fn fan_out(event: Arc<FlowEvent>, queues: &[DestinationQueue], tap: Option<&Tap>, shared: &Shared) {
    let mut taken = false;
    let tapped_only = tap.is_some_and(|t| t.own.iter().any(|f| **f == *event.name));
    for (i, r) in queues.iter().enumerate() {
        let takes = if r.flows.is_empty() {
            !tapped_only
        } else {
            r.flows.iter().any(|f| **f == *event.name)
        };
        if !takes {
            continue;
        }
        taken = true;
        let c = &shared.destinations[i];
        match r.queue.try_send(Arc::clone(&event)) {
            Ok(()) => {
                c.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if let Some(t) = tap.filter(|t| t.wants(&event)) {
        taken = true;
        match t.queue.try_send(event) {
            Ok(()) => t.counters.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => t.counters.overflow.fetch_add(1, Ordering::Relaxed),
        };
    }
    if !taken {
        shared.unrouted.fetch_add(1, Ordering::Relaxed);
    }
}
