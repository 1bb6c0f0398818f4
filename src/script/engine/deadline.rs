//! Handler deadlines: QuickJS's interrupt handler ends a call that runs past its bound
//! (or any call once the host asks the thread to stop). The bound is a monotonic time
//! in an atomic the handler reads, so arming and disarming around each call costs two
//! stores, not a new closure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rquickjs::Runtime;

use crate::clock::monotonic_nanos;

/// The deadline the interrupt handler enforces, shared with it.
pub(super) struct Deadline {
    at_ns: Arc<AtomicU64>,
    fired: Arc<AtomicBool>,
}

impl Deadline {
    pub(super) fn install(rt: &Runtime, stop: &Arc<AtomicBool>) -> Deadline {
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

    pub(super) fn arm(&self, bound: Duration) {
        self.fired.store(false, Ordering::Relaxed);
        let at = monotonic_nanos().saturating_add(bound.as_nanos() as u64);
        self.at_ns.store(at, Ordering::Relaxed);
    }

    /// Disarm; true when the call was cut.
    pub(super) fn disarm(&self) -> bool {
        self.at_ns.store(0, Ordering::Relaxed);
        self.fired.swap(false, Ordering::Relaxed)
    }
}
