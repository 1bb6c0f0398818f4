//! The largest-flow form of a flow threshold (`byFlow = false`): one crossing per
//! definition scope (agent and data source in `agent` scope, the whole fabric in
//! `fabric` scope) when its largest flow exceeds the value.
//!
//! The largest flow exceeds the value exactly when some flow does, and stays under it
//! exactly while every flow does, so no maximum has to be kept: each flow entry marks
//! whether it is counted above, and this table counts, per scope, the flows above. The
//! scope fires when the count leaves 0 while armed and re-arms after `timeout` at 0.
//! A scope's flows live in several workers (flows are sharded by key), so the table is
//! shared between them behind a lock; it is taken only when a flow crosses the value in
//! either direction and once a second per worker for the re-arm check, never per sample.
//! It holds only scopes with flows above or waiting to re-arm, at most the definition's
//! `maxEntries`; a scope beyond is refused and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::flow::FlowEvent;

/// The shared per-scope state of one largest-flow threshold.
#[derive(Debug)]
pub struct Largest {
    max: usize,
    scopes: Mutex<HashMap<[u64; 3], Scope>>,
    /// Crossings of scopes the bound left out.
    pub refused: AtomicU64,
}

#[derive(Debug)]
struct Scope {
    /// Flows counted above the value.
    above: u32,
    /// The event that fired (the template of the `end` event); `None` while armed.
    fired: Option<FlowEvent>,
    /// Millisecond since which no flow has been above (while fired).
    below_since: u64,
    /// The value of the last flow that fell under the value.
    last_value: f64,
}

impl Largest {
    /// State for at most `max` scopes.
    pub fn new(max: usize) -> Largest {
        Largest {
            max,
            scopes: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    /// A flow of `scope` is now above the value: the event `make` builds when the scope
    /// fires.
    pub fn up(&self, scope: [u64; 3], make: impl FnOnce() -> FlowEvent) -> Option<FlowEvent> {
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        let full = scopes.len() >= self.max;
        let s = match scopes.get_mut(&scope) {
            Some(s) => s,
            None if full => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            None => scopes.entry(scope).or_insert(Scope {
                above: 0,
                fired: None,
                below_since: 0,
                last_value: 0.0,
            }),
        };
        s.above = s.above.saturating_add(1);
        if s.fired.is_some() {
            return None;
        }
        let event = make();
        s.fired = Some(event.clone());
        Some(event)
    }

    /// A flow of `scope` counted above is now at or under the value (`value`), or gone.
    pub fn down(&self, scope: [u64; 3], now_ms: u64, value: f64) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = scopes.get_mut(&scope) {
            s.above = s.above.saturating_sub(1);
            s.last_value = value;
            if s.above == 0 {
                s.below_since = now_ms;
                if s.fired.is_none() {
                    scopes.remove(&scope);
                }
            }
        }
    }

    /// Re-arm every scope whose flows have all been under the value for `timeout_ms`;
    /// `each` gets the event that fired it and the value the scope fell to.
    pub fn rearm(&self, now_ms: u64, timeout_ms: u64, each: &mut dyn FnMut(FlowEvent, f64)) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        scopes.retain(|_, s| {
            if s.above > 0 || now_ms.saturating_sub(s.below_since) < timeout_ms {
                return true;
            }
            if let Some(e) = s.fired.take() {
                each(e, s.last_value);
            }
            false
        });
    }

    /// Scopes held.
    pub fn len(&self) -> usize {
        self.scopes.lock().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(value: f64) -> FlowEvent {
        FlowEvent {
            flow_id: 0,
            name: "t".into(),
            keys: Box::new([]),
            separator: ",".into(),
            value,
            start_ms: 0,
            end_ms: 0,
            agent: "192.0.2.1".parse().unwrap(),
            data_source: 1,
            received_ns: 0,
            event_id: 0,
            threshold: None,
        }
    }

    #[test]
    fn one_crossing_per_scope_until_every_flow_is_under_for_the_timeout() {
        let l = Largest::new(2);
        let (a, b, c) = ([1, 0, 1], [2, 0, 1], [3, 0, 1]);
        assert!(l.up(a, || event(5.0)).is_some());
        assert!(
            l.up(a, || event(6.0)).is_none(),
            "a second flow of the scope"
        );
        assert!(l.up(b, || event(7.0)).is_some(), "another scope");
        assert!(l.up(c, || event(7.0)).is_none(), "beyond the bound");
        assert_eq!(l.refused.load(Ordering::Relaxed), 1);
        l.down(a, 1000, 1.0);
        let mut ended = Vec::new();
        l.rearm(5000, 1000, &mut |e, v| ended.push((e.value, v)));
        assert!(ended.is_empty(), "one flow of a is still above");
        l.down(a, 2000, 0.5);
        l.rearm(2999, 1000, &mut |e, v| ended.push((e.value, v)));
        assert!(ended.is_empty());
        l.rearm(3000, 1000, &mut |e, v| ended.push((e.value, v)));
        assert_eq!(ended, vec![(5.0, 0.5)]);
        assert!(l.up(a, || event(9.0)).is_some(), "re-armed");
    }
}
