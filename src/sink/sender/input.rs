//! Where a destination thread takes its events from: its bounded queue behind the
//! dispatcher, or, as the only destination, the worker rings themselves (then its queue
//! is a backlog of what it takes while it cannot send). Both count what they accept and
//! what overflows the same way, so the stats do not depend on which one runs.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;

use super::dispatch::DISPATCH_PARK_MAX;
use super::Shared;
use crate::flow::FlowEvent;
use crate::ring::Consumer;
use crate::wake::IdleSpin;

/// Where a destination takes its events from.
pub(super) enum Input {
    /// Its bounded queue, filled by the dispatcher thread (two or more destinations).
    Queue(Receiver<Arc<FlowEvent>>),
    /// The worker rings themselves: with a single destination there is no dispatcher
    /// thread, so an event costs one hop and one wake-up less.
    Rings(Box<DirectInput>),
}

/// The worker rings as a single destination's input, and its bounded queue.
pub(super) struct DirectInput {
    pub(super) rings: Vec<Consumer<FlowEvent>>,
    /// Flow names the destination takes (empty: all).
    pub(super) flows: Vec<String>,
    /// The destination's queue: events taken from the rings while it could not send
    /// (reconnecting), at most `capacity`; more are overflow, as with a dispatcher.
    pub(super) backlog: VecDeque<FlowEvent>,
    pub(super) capacity: usize,
    /// Ring to look at first (fairness between workers).
    pub(super) next: usize,
    pub(super) idle: IdleSpin,
}

/// What [`Input::take`] found.
pub(super) enum Taken {
    Event,
    /// Nothing within the wait.
    Empty,
    /// Nothing, and nothing more will come.
    Closed,
}

impl Input {
    /// True when an event can be taken without waiting (a cheap check; may say false).
    pub(super) fn is_ready(&self) -> bool {
        match self {
            Input::Queue(q) => !q.is_empty(),
            Input::Rings(d) => !d.backlog.is_empty() || d.rings.iter().any(|r| !r.is_empty()),
        }
    }

    /// Hand the next event to `f`, waiting at most `wait` for one.
    pub(super) fn take(
        &mut self,
        wait: Duration,
        shared: &Shared,
        index: usize,
        f: &mut dyn FnMut(&FlowEvent),
    ) -> Taken {
        match self {
            Input::Queue(q) => {
                let got = if wait.is_zero() {
                    q.try_recv().map_err(|e| e.is_disconnected())
                } else {
                    q.recv_timeout(wait).map_err(|e| e.is_disconnected())
                };
                match got {
                    Ok(ev) => {
                        f(&ev);
                        Taken::Event
                    }
                    Err(true) => Taken::Closed,
                    Err(false) => Taken::Empty,
                }
            }
            Input::Rings(d) => d.take(wait, shared, index, f),
        }
    }

    /// While the destination cannot send: move what the rings hold into its queue.
    pub(super) fn absorb(&mut self, shared: &Shared, index: usize) {
        if let Input::Rings(d) = self {
            d.absorb(shared, index);
        }
    }

    /// Shutdown deadline passed: empty the input, returning how many events it held (each
    /// counted as accepted, so the caller's `dropped` balances them).
    pub(super) fn drain(&mut self, shared: &Shared, index: usize) -> u64 {
        let mut n = 0;
        match self {
            Input::Queue(q) => {
                while q.try_recv().is_ok() {
                    n += 1;
                }
            }
            Input::Rings(d) => {
                n += d.backlog.drain(..).count() as u64;
                while d.pop(shared).is_some() {
                    shared.destinations[index]
                        .accepted
                        .fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }
        }
        n
    }
}

impl DirectInput {
    /// The next event this destination takes, round-robin over the rings; events of
    /// flows it does not take are counted as unrouted and skipped.
    fn pop(&mut self, shared: &Shared) -> Option<FlowEvent> {
        let n = self.rings.len();
        let mut empty = 0;
        // Bounded: each turn either returns, skips one event (finite, the rings are
        // bounded and only this thread pops), or counts an empty ring.
        while empty < n {
            let i = self.next % n;
            let Some(e) = self.rings[i].pop() else {
                empty += 1;
                self.next = i + 1;
                continue;
            };
            empty = 0;
            shared.events.fetch_add(1, Ordering::Relaxed);
            if !self.flows.is_empty() && !self.flows.iter().any(|f| **f == *e.name) {
                shared.unrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Some(e);
        }
        None
    }

    fn absorb(&mut self, shared: &Shared, index: usize) {
        shared.hand_back(&mut self.rings);
        let c = &shared.destinations[index];
        while let Some(e) = self.pop(shared) {
            if self.backlog.len() < self.capacity {
                c.accepted.fetch_add(1, Ordering::Relaxed);
                self.backlog.push_back(e);
            } else {
                c.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn take(
        &mut self,
        wait: Duration,
        shared: &Shared,
        index: usize,
        f: &mut dyn FnMut(&FlowEvent),
    ) -> Taken {
        let mut deadline = None;
        // Bounded by `wait`: each turn takes an event, spends idle budget, or parks
        // until the deadline at the latest.
        loop {
            let handed = shared.hand_back(&mut self.rings);
            if let Some(e) = self.backlog.pop_front() {
                f(&e);
                return Taken::Event;
            }
            if handed {
                // The rings went to a new sender: what was taken is sent, then this ends.
                return Taken::Closed;
            }
            if let Some(e) = self.pop(shared) {
                shared.destinations[index]
                    .accepted
                    .fetch_add(1, Ordering::Relaxed);
                self.idle.reset();
                f(&e);
                return Taken::Event;
            }
            let rings = &self.rings;
            if !rings.is_empty() && rings.iter().all(Consumer::is_finished) {
                shared.inputs_finished.store(true, Ordering::Release);
                return Taken::Closed;
            }
            if shared.stop.load(Ordering::Acquire) {
                // Shutdown and nothing in the rings: what the workers pushed is taken.
                return Taken::Closed;
            }
            let now = Instant::now();
            let until = *deadline.get_or_insert(now + wait);
            if now >= until {
                return Taken::Empty;
            }
            if self.idle.spin() {
                continue;
            }
            // See `dispatch` for the re-check; `stop` also wakes the doorbell.
            shared
                .doorbell
                .park_timeout((until - now).min(DISPATCH_PARK_MAX), || {
                    !shared.stop.load(Ordering::Acquire)
                        && !shared.handover.load(Ordering::Acquire)
                        && rings.iter().all(Consumer::is_empty)
                        && (rings.is_empty() || !rings.iter().all(Consumer::is_finished))
                });
        }
    }
}
