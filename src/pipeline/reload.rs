//! Applying a new configuration to a running pipeline (SIGHUP), without stopping receive.
//!
//! Flow definitions live in slots: a definition's slot is its bit in
//! [`crate::flow::FlowId::definition`] and the seed of its hash, so a definition whose
//! spec did not change keeps its slot, its tables in every worker and therefore its open
//! flows (a `flowStart` key already seen does not fire again). A removed or changed
//! definition's slot is retired: its bit leaves the live set (items routed before the
//! reload that still name it are ignored) and its tables are replaced by tiny empty ones.
//! A new definition takes a slot retired by an earlier reload, or a new one at the end
//! (at most [`MAX_DEFINITIONS`] slots). Slots retired by this very reload are not reused
//! by it, so an item routed just before the reload is never applied to a different
//! definition. The order of the switch: every worker installs the new tables and
//! acknowledges, then the receive threads' routers are replaced (each takes its new one
//! before routing its next sample, [`crate::flow::router::ReloadableRouter`]).
//!
//! Sinks: when any `[[sink]]` changed, the running sender hands the worker rings over to a
//! new sender built from the new list (receive and workers never stop: events wait in the
//! bounded worker rings for the hand-over), then finishes what it holds, bounded by
//! `[shutdown] timeout_ms`, and closes. Counters of sinks that keep their name carry over.
//!
//! Thresholds: a flow definition's thresholds are part of it (they shape its entries), so
//! a definition whose thresholds changed is a changed definition (new tables), and one
//! whose thresholds did not keeps its tables and its thresholds' states. Interface
//! thresholds change in place; an unchanged one keeps its state on every interface.
//! Group sets: a reload re-reads every `[[group]]` (files included; an unreadable or bad
//! file refuses the whole reload and the sets in force stay). A definition whose keys and
//! filter are written the same but read a set whose content changed is kept, flows and
//! all: its tables take the new sets (workers first, then the routers), and since a
//! flow's group is packed as the group name's process-wide number, an open flow keeps its
//! identity. From then on samples are classified by the new sets: an address that left
//! a group no longer matches, one that joined starts new flows.
//!
//! Settings that shape threads and sockets (`[rx]`, `[workers]`, `[scheduler]`) need a
//! restart: they are listed as not applied.

use std::sync::Arc;
use std::time::Duration;

use super::Pipeline;
use crate::config::Config;
use crate::flow::definition::MAX_DEFINITIONS;
use crate::flow::key::definition_seed;
use crate::flow::router::{ReloadableRouter, RouterUpdates};
use crate::flow::Route;
use crate::flow::{FlowDefinition, FlowDefinitions, FlowSpec, FlowTable, Router};
use crate::groups::Groups;
use crate::sink::{SinkStats, SyslogSink, Tap};
use crate::threshold::Threshold;

/// Longest a reload waits for the workers, or for the sender's hand-over.
const PATIENCE: Duration = Duration::from_secs(5);

/// One flow definition slot.
#[derive(Clone)]
struct Slot {
    spec: FlowSpec,
    def: FlowDefinition,
    live: bool,
    /// The reload that retired it (0: never retired).
    retired_in: u64,
}

/// The reloadable state of a running pipeline.
pub(super) struct Engine {
    /// The configuration in force.
    pub config: Config,
    slots: Vec<Slot>,
    /// Reloads applied so far.
    generation: u64,
    updates: Arc<RouterUpdates>,
    /// Counters of senders replaced by reloads, for sinks that kept their name.
    pub sink_base: SinkStats,
    /// The script thread's hook on the sender, given to every sender a reload starts.
    pub tap: Option<Tap>,
    /// The group sets the last reload replaced.
    retired_groups: Groups,
}

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub flows_added: Vec<String>,
    pub flows_removed: Vec<String>,
    pub flows_kept: Vec<String>,
    /// Group sets added, removed or changed in content (files re-read included).
    pub groups_changed: Vec<String>,
    /// The sender was replaced (some `[[sink]]` changed).
    pub sinks_replaced: bool,
    /// Settings that differ from the running ones but need a restart.
    pub not_applied: Vec<String>,
}

impl std::fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "flows kept: {}; added: {}; removed: {}; sinks {}",
            list(&self.flows_kept),
            list(&self.flows_added),
            list(&self.flows_removed),
            if self.sinks_replaced {
                "replaced"
            } else {
                "unchanged"
            }
        )?;
        if !self.groups_changed.is_empty() {
            write!(f, "; groups changed: {}", self.groups_changed.join(", "))?;
        }
        if !self.not_applied.is_empty() {
            write!(
                f,
                "; not applied (restart needed): {}",
                self.not_applied.join(", ")
            )?;
        }
        Ok(())
    }
}

impl Engine {
    /// The state for a pipeline started from `config` with `definitions` (in slot order).
    pub fn new(config: &Config, definitions: &FlowDefinitions, threads: usize) -> Engine {
        let slots = config
            .flows
            .iter()
            .zip(definitions.as_slice())
            .map(|(spec, def)| Slot {
                spec: spec.clone(),
                def: def.clone(),
                live: true,
                retired_in: 0,
            })
            .collect();
        Engine {
            config: config.clone(),
            slots,
            generation: 0,
            updates: RouterUpdates::new(threads),
            sink_base: SinkStats::default(),
            tap: None,
            retired_groups: Groups::default(),
        }
    }

    /// Receive thread `index`'s router over the current definitions.
    pub fn router(&self, index: usize, workers: usize) -> Box<dyn Route> {
        let (defs, live) = self.layout();
        Box::new(ReloadableRouter::new(
            Router::with_live(&defs, workers, live),
            index,
            Arc::clone(&self.updates),
        ))
    }

    fn layout(&self) -> (FlowDefinitions, u64) {
        let defs = self.slots.iter().map(|s| s.def.clone()).collect();
        let live = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        // At most MAX_DEFINITIONS slots, checked when they are made.
        let defs = FlowDefinitions::slots(defs).unwrap_or_else(|_| {
            FlowDefinitions::slots(Vec::new()).unwrap_or_else(|_| unreachable!())
        });
        (defs, live)
    }
}

/// Settings in `table` of `old` and `new` (serialized) that differ, as `table.key`.
fn changed_keys<T: serde::Serialize>(table: &str, old: &T, new: &T) -> Vec<String> {
    let (Ok(toml::Value::Table(a)), Ok(toml::Value::Table(b))) =
        (toml::Value::try_from(old), toml::Value::try_from(new))
    else {
        return vec![table.to_string()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{table}.{k}"))
        .collect()
}

/// Whether two validated definitions behave the same (a spec that only spells out a
/// built-in's defaults is the built-in), the content of the group sets they read aside:
/// a definition whose sets changed keeps its slot and its flows and takes the new sets
/// ([`same_groups`]).
fn same_definition(a: &FlowDefinition, b: &FlowDefinition) -> bool {
    a.name == b.name
        && a.keys == b.keys
        && a.columns == b.columns
        && a.value == b.value
        && a.filter.as_ref().map(|f| f.text()) == b.filter.as_ref().map(|f| f.text())
        && a.separator == b.separator
        && a.log == b.log
        && a.flow_start == b.flow_start
        && a.active_timeout_ms == b.active_timeout_ms
        && a.n == b.n
        && a.t.to_bits() == b.t.to_bits()
        && a.max_entries == b.max_entries
        && a.idle_timeout_ms == b.idle_timeout_ms
        && a.scope == b.scope
        && a.key_words == b.key_words
        && a.thresholds.len() == b.thresholds.len()
        && a.thresholds
            .iter()
            .zip(b.thresholds.iter())
            .all(|(x, y)| x.same(y))
}

/// Whether two definitions that are the same by [`same_definition`] read group sets of
/// the same content (in their keys and their filter).
fn same_groups(a: &FlowDefinition, b: &FlowDefinition) -> bool {
    let filter_groups = |d: &FlowDefinition| {
        d.filter
            .as_ref()
            .map(|f| f.group_keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    a.groups == b.groups && filter_groups(a) == filter_groups(b)
}

/// The names of the sets in `old` or `new` that are not in both with the same content.
fn changed_groups(old: &Groups, new: &Groups) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in new.sets() {
        if old
            .get(s.name())
            .is_none_or(|o| !(Arc::ptr_eq(o, s) || **o == **s))
        {
            out.push(s.name().to_owned());
        }
    }
    for s in old.sets() {
        if new.get(s.name()).is_none() {
            out.push(s.name().to_owned());
        }
    }
    out
}

/// Add `base` (counters of replaced senders) into `stats`, by sink name.
pub(super) fn add_sink_base(stats: &mut SinkStats, base: &SinkStats) {
    stats.events += base.events;
    stats.unrouted += base.unrouted;
    for d in &mut stats.destinations {
        if let Some(b) = base.destinations.iter().find(|b| b.name == d.name) {
            d.accepted += b.accepted;
            d.sent += b.sent;
            d.batches += b.batches;
            d.overflow += b.overflow;
            d.dropped += b.dropped;
            d.errors += b.errors;
            d.reconnects += b.reconnects;
            d.latency_buckets.add(&b.latency_buckets);
        }
    }
}

impl Pipeline {
    /// Apply `new` (already parsed and checked): flows and sinks change in place, the rest
    /// is listed as needing a restart. On error nothing observable changed, except when a
    /// worker failed to take the new definitions (reported as such).
    pub fn reload(&mut self, new: &Config) -> Result<ReloadOutcome, String> {
        self.reload_tapped(new, None)
    }

    /// [`Pipeline::reload`] with the script thread's hook replaced by `tap`, for the
    /// scripts' definitions changed after load: the sender is replaced (as for a changed
    /// `[[sink]]`) only when the names the hook takes or owns changed.
    pub fn reload_with_tap(&mut self, new: &Config, tap: Tap) -> Result<ReloadOutcome, String> {
        self.reload_tapped(new, Some(tap))
    }

    fn reload_tapped(&mut self, new: &Config, tap: Option<Tap>) -> Result<ReloadOutcome, String> {
        let tap = tap.filter(|t| !self.engine.tap.as_ref().is_some_and(|o| same_names(o, t)));
        let mut outcome = ReloadOutcome::default();
        let old = &self.engine.config;
        outcome
            .not_applied
            .extend(changed_keys("rx", &old.rx, &new.rx));
        outcome
            .not_applied
            .extend(changed_keys("workers", &old.workers, &new.workers));
        outcome
            .not_applied
            .extend(changed_keys("scheduler", &old.scheduler, &new.scheduler));
        let sinks_change = old.sinks != new.sinks;
        if sinks_change {
            // Everything that can fail before the switch: TLS files, addresses.
            SyslogSink::check(&new.sinks)?;
        }
        outcome.groups_changed = changed_groups(&old.group_sets, &new.group_sets);
        let thresholds = new.thresholds()?;
        let plan = self.plan_flows(new, &thresholds)?;
        if sinks_change || tap.is_some() {
            let running = self.engine.tap.clone();
            if tap.is_some() {
                self.engine.tap = tap;
            }
            if let Err(e) = self.replace_sinks(new) {
                self.engine.tap = running;
                return Err(e);
            }
            outcome.sinks_replaced = sinks_change;
        }
        outcome.flows_added = plan.added.iter().map(|(_, s)| s.name.clone()).collect();
        outcome.flows_removed = plan.removed.clone();
        outcome.flows_kept = plan.kept.clone();
        if !plan.added.is_empty() || !plan.retire.is_empty() || !plan.regroup.is_empty() {
            self.apply_flows(plan)?;
        }
        self.interfaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .metrics
            .set_thresholds(&thresholds);
        // The sets just replaced stay referenced until the next reload, so that their
        // memory is most likely freed here rather than on a datapath thread that held
        // the last reference.
        self.engine.retired_groups =
            std::mem::replace(&mut self.engine.config.group_sets, new.group_sets.clone());
        self.shutdown_timeout = Duration::from_millis(new.shutdown.timeout_ms);
        // Keep the settings that were not applied as they run, so the next reload lists
        // them again and the running configuration stays the truth.
        let mut running = new.clone();
        running.rx = self.engine.config.rx.clone();
        running.workers = self.engine.config.workers.clone();
        running.scheduler = self.engine.config.scheduler.clone();
        self.engine.config = running;
        Ok(outcome)
    }

    fn plan_flows(&self, new: &Config, thresholds: &[Threshold]) -> Result<FlowPlan, String> {
        let generation = self.engine.generation + 1;
        let mut plan = FlowPlan {
            generation,
            ..FlowPlan::default()
        };
        let slots = &self.engine.slots;
        let mut keep = vec![false; slots.len()];
        for spec in &new.flows {
            let def = FlowDefinition::from_spec_in(spec, &new.group_sets)
                .map_err(|e| e.to_string())?
                .with_thresholds(thresholds);
            match slots
                .iter()
                .enumerate()
                .position(|(i, s)| s.live && !keep[i] && same_definition(&s.def, &def))
            {
                Some(i) => {
                    keep[i] = true;
                    plan.kept.push(spec.name.clone());
                    if !same_groups(&slots[i].def, &def) {
                        plan.regroup.push((i, def, spec.clone()));
                    }
                }
                None => plan.added.push((def, spec.clone())),
            }
        }
        for (i, s) in slots.iter().enumerate() {
            if s.live && !keep[i] {
                plan.retire.push(i);
                plan.removed.push(s.spec.name.clone());
            }
        }
        // Slots for the added definitions: retired by an earlier reload first, then new.
        let mut free: Vec<usize> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.live && s.retired_in < generation)
            .map(|(i, _)| i)
            .collect();
        free.reverse();
        let mut next = slots.len();
        for _ in &plan.added {
            let slot = match free.pop() {
                Some(s) => s,
                None if next < MAX_DEFINITIONS => {
                    next += 1;
                    next - 1
                }
                None => {
                    return Err(format!(
                        "no room for the new flow definitions: at most {MAX_DEFINITIONS} \
                         slots, and slots freed by this reload are reused only by the next; \
                         reload again or restart"
                    ))
                }
            };
            plan.slots.push(slot);
        }
        Ok(plan)
    }

    fn apply_flows(&mut self, plan: FlowPlan) -> Result<(), String> {
        let workers_n = self.workers.as_ref().map_or(1, |w| w.len()).max(1);
        let engine = &mut self.engine;
        for &i in &plan.retire {
            if let Some(s) = engine.slots.get_mut(i) {
                s.live = false;
                s.retired_in = plan.generation;
            }
        }
        let mut per_worker: Vec<Vec<(usize, FlowTable)>> =
            (0..workers_n).map(|_| Vec::new()).collect();
        let mut regroup = Vec::with_capacity(plan.regroup.len());
        for (i, def, spec) in plan.regroup {
            if let Some(s) = engine.slots.get_mut(i) {
                regroup.push((i, def.groups.clone()));
                s.def = def;
                s.spec = spec;
            }
        }
        for &i in &plan.retire {
            if let Some(s) = engine.slots.get(i) {
                for w in per_worker.iter_mut() {
                    w.push((i, FlowTable::new(&s.def, 1, definition_seed(i))));
                }
            }
        }
        for ((def, spec), &slot) in plan.added.into_iter().zip(&plan.slots) {
            let entry = Slot {
                spec,
                def,
                live: true,
                retired_in: 0,
            };
            for w in per_worker.iter_mut() {
                let cap = entry.def.max_entries.div_ceil(workers_n);
                w.push((slot, FlowTable::new(&entry.def, cap, definition_seed(slot))));
            }
            if slot < engine.slots.len() {
                engine.slots[slot] = entry;
            } else {
                engine.slots.push(entry);
            }
        }
        // Appends must arrive in slot order.
        for w in per_worker.iter_mut() {
            w.sort_by_key(|(slot, _)| *slot);
        }
        engine.generation = plan.generation;
        let (defs, live) = engine.layout();
        let names = engine
            .slots
            .iter()
            .map(|s| s.live.then(|| s.def.name.clone()))
            .collect();
        if let Some(w) = &self.workers {
            w.reconfigure(per_worker, regroup, live, names, PATIENCE)?;
        }
        let threads = self.receiver_threads;
        let routers = (0..threads)
            .map(|_| Router::with_live(&defs, workers_n, live))
            .collect();
        engine.updates.publish(routers);
        Ok(())
    }

    fn replace_sinks(&mut self, new: &Config) -> Result<(), String> {
        let Some(mut old) = self.sink.take() else {
            return Err("no running sender".into());
        };
        let (rings, doorbell) = match old.hand_over(PATIENCE) {
            Ok(x) => x,
            Err(e) => {
                self.sink = Some(old);
                return Err(e);
            }
        };
        let started = SyslogSink::start_with(&new.sinks, rings, doorbell, self.engine.tap.clone());
        let sink = match started {
            Ok(s) => s,
            Err(e) => {
                // Checked beforehand, so only thread creation can fail here: nothing to
                // fall back on but reporting it; the rings are gone with the new sender.
                let _ = old.shutdown(self.shutdown_timeout);
                return Err(format!("cannot start the new sinks: {e}"));
            }
        };
        self.sink = Some(sink);
        let mut last = old.shutdown(self.shutdown_timeout);
        add_sink_base(&mut last, &self.engine.sink_base);
        // Only sinks that still exist carry their counters on.
        last.destinations
            .retain(|d| new.sinks.iter().any(|s| s.name == d.name));
        self.engine.sink_base = last;
        Ok(())
    }
}

/// Whether two hooks take and own the same names (their queue is the script thread's).
fn same_names(a: &Tap, b: &Tap) -> bool {
    a.flows == b.flows && a.thresholds == b.thresholds && a.own == b.own
}

#[derive(Default)]
struct FlowPlan {
    generation: u64,
    kept: Vec<String>,
    removed: Vec<String>,
    retire: Vec<usize>,
    added: Vec<(FlowDefinition, FlowSpec)>,
    /// Kept slots whose group sets changed content: the definition over the new sets.
    regroup: Vec<(usize, FlowDefinition, FlowSpec)>,
    /// The slot of each added definition.
    slots: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A changed interface threshold keeps every flow table; a changed threshold on a
    /// definition renews that definition's tables only.
    #[test]
    fn thresholds_change_on_reload_and_unchanged_tables_stay() {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sink.local_addr().unwrap();
        let config = |flood: u32, hot: u32| {
            let text = format!(
                "[rx]\nlisten = [\"127.0.0.1:0\"]\n[stats]\ninterval_s = 0\n\
                 [[flow]]\nname = \"uport\"\n\
                 [[flow]]\nname = \"flood\"\nkeys = \"ipdestination\"\n\
                 [[threshold]]\nname = \"f\"\nmetric = \"flood\"\nvalue = {flood}\nbyFlow = true\n\
                 [[threshold]]\nname = \"hot\"\nmetric = \"ifinutilization\"\nvalue = {hot}\n\
                 [[sink]]\naddress = \"{addr}\"\n"
            );
            Config::parse(&text, "reload.toml").unwrap()
        };
        let mut p = Pipeline::start(&config(100, 80)).unwrap();
        let out = p.reload(&config(100, 90)).unwrap();
        assert_eq!(out.flows_kept, vec!["uport", "flood"], "{out}");
        assert!(
            out.flows_added.is_empty() && out.flows_removed.is_empty(),
            "{out}"
        );
        let out = p.reload(&config(200, 90)).unwrap();
        assert_eq!(out.flows_kept, vec!["uport"], "{out}");
        assert_eq!(out.flows_added, vec!["flood"], "{out}");
        assert_eq!(p.config().thresholds[0].value, 200.0);
        let _ = p.shutdown();
    }

    #[test]
    fn changed_keys_name_the_settings() {
        let a = crate::rx::RxConfig::default();
        let mut b = a.clone();
        b.listen = vec!["127.0.0.1:1".parse().unwrap()];
        assert_eq!(changed_keys("rx", &a, &b), vec!["rx.listen".to_string()]);
        assert!(changed_keys("rx", &a, &a).is_empty());
    }
}
