//! The dispatcher thread (two or more destinations): takes events from the worker rings,
//! round-robin in bursts, and offers each to the bounded queue of every destination that
//! takes its flow. It only selects and queues (a flow-name check and an `Arc` clone per
//! destination), so a slow destination fills, and loses from, its own queue only.

use std::sync::atomic::Ordering;
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
                fan_out(Arc::new(event), &queues, shared);
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

/// Offer `event` to every destination queue that takes its flow (full: overflow, counted).
fn fan_out(event: Arc<FlowEvent>, queues: &[DestinationQueue], shared: &Shared) {
    let mut taken = false;
    for (i, r) in queues.iter().enumerate() {
        if !r.flows.is_empty() && !r.flows.iter().any(|f| **f == *event.name) {
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
    if !taken {
        shared.unrouted.fetch_add(1, Ordering::Relaxed);
    }
}
