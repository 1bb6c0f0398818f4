//! Assembles a running collector from a [`Config`]: receive engine -> flow workers ->
//! syslog sender, and takes it apart again in the order that loses nothing.
//!
//! ```text
//! Receiver (T threads) --T x W WorkItem rings--> Workers (W) --W FlowEvent rings--> SyslogSink
//! ```
//!
//! Start-up runs back to front (sink, workers, receivers) so that the first datagram
//! already has somewhere to go; shutdown runs front to back: stop receiving (dropping the
//! ring producers), let the workers drain their rings and exit (dropping theirs), then let
//! the sink take the last events and flush every destination within the shutdown timeout.
//! Each stage finishes on its own once its input rings report `is_finished`, so no event in
//! flight is abandoned by the ordering.
//!
//! Interface thresholds run where the receive threads' interface counters are drained
//! ([`Pipeline::take_interface_counters`], the run loop), and their events reach the sink
//! through one more ring beside the workers'.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::flow::{FlowEvent, FlowStats, WorkerConfig, Workers};
use crate::flow::{Route, WorkItem};
use crate::ring::{ring, Consumer, Producer};
use crate::rx::{Receiver, RxStats};
use crate::sink::{SinkStats, SyslogSink};
use crate::threshold::{InterfaceMetrics, InterfaceStats};

mod reload;
pub use reload::ReloadOutcome;

/// A snapshot of every stage.
#[derive(Clone, Debug, Default)]
pub struct PipelineStats {
    pub rx: RxStats,
    pub flow: FlowStats,
    pub sink: SinkStats,
    /// Interface metrics and their thresholds.
    pub interfaces: InterfaceStats,
    /// Interface threshold events dropped because their ring to the sink was full.
    pub interface_events_dropped: u64,
}

/// The running collector.
pub struct Pipeline {
    receiver: Option<Receiver>,
    workers: Option<Workers>,
    sink: Option<SyslogSink>,
    shutdown_timeout: Duration,
    started: Instant,
    /// What a reload changes: the running configuration, flow slots, router updates.
    engine: reload::Engine,
    receiver_threads: usize,
    /// Interface metrics and thresholds, fed by [`Pipeline::take_interface_counters`].
    interfaces: std::sync::Mutex<Interfaces>,
}

/// The interface thresholds' state and their ring to the sink.
struct Interfaces {
    metrics: InterfaceMetrics,
    /// Dropped (None) before the sink shuts down, so that it sees the ring finish.
    events: Option<Producer<FlowEvent>>,
    dropped: u64,
}

/// What [`Pipeline::shutdown`] returns: final counters and how long the stop took.
pub struct FinalReport {
    pub stats: PipelineStats,
    pub uptime: Duration,
    pub shutdown: Duration,
    /// Flow workers that panicked (0 in a healthy run).
    pub worker_panics: usize,
    /// List every agent and sender of bad datagrams (`[stats] report_agents`).
    pub every_agent: bool,
}

impl Pipeline {
    /// Build the rings and start sink, workers and receivers.
    pub fn start(config: &Config) -> Result<Pipeline, String> {
        let thresholds = config.thresholds()?;
        let definitions = config.definitions(&thresholds)?;
        let workers_n = config.workers.count.get();
        let threads = config.rx.thread_cores().len().max(1);

        // One WorkItem ring per (receive thread, worker).
        let mut producers: Vec<Vec<Producer<WorkItem>>> =
            (0..threads).map(|_| Vec::new()).collect();
        let mut inputs: Vec<Vec<Consumer<WorkItem>>> = (0..workers_n).map(|_| Vec::new()).collect();
        for thread in producers.iter_mut() {
            for input in inputs.iter_mut() {
                let (p, c) = ring(config.rx.ring_capacity.max(1));
                thread.push(p);
                input.push(c);
            }
        }
        // One FlowEvent ring per worker, all drained by the sink.
        let (outputs, mut events): (Vec<Producer<FlowEvent>>, Vec<Consumer<FlowEvent>>) = (0
            ..workers_n)
            .map(|_| ring(config.workers.event_queue.get()))
            .unzip();
        // And one for the interface thresholds' events.
        let (interface_events, c) = ring(config.workers.event_queue.get());
        events.push(c);

        // Before any thread starts: workers and senders request it as they begin.
        crate::sched::set_wake_slice(Duration::from_micros(config.scheduler.slice_us));
        let sink = SyslogSink::start(&config.sinks, events)?;
        let worker_config = WorkerConfig {
            cores: config.workers.cores.iter().map(|&c| Some(c)).collect(),
            ..WorkerConfig::default()
        };
        let workers = Workers::spawn(&definitions, worker_config, inputs, outputs)
            .map_err(|e| e.to_string())?;
        let engine = reload::Engine::new(config, &definitions, threads);
        let routers: Vec<Box<dyn Route>> =
            (0..threads).map(|i| engine.router(i, workers_n)).collect();
        let receiver =
            Receiver::start(config.rx.clone(), routers, producers).map_err(|e| e.to_string())?;
        Ok(Pipeline {
            receiver: Some(receiver),
            workers: Some(workers),
            sink: Some(sink),
            shutdown_timeout: Duration::from_millis(config.shutdown.timeout_ms),
            started: Instant::now(),
            engine,
            receiver_threads: threads,
            interfaces: std::sync::Mutex::new(Interfaces {
                metrics: InterfaceMetrics::new(&thresholds),
                events: Some(interface_events),
                dropped: 0,
            }),
        })
    }

    /// The addresses the receive sockets are bound to.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.receiver
            .as_ref()
            .map(Receiver::local_addrs)
            .unwrap_or_default()
    }

    /// Interface counter updates queued by the receive threads since the last call (see
    /// [`Receiver::take_interface_counters`]), after the interface thresholds saw them.
    pub fn take_interface_counters(
        &self,
        mut each: impl FnMut(crate::rx::interfaces::InterfaceCounters),
    ) {
        let Some(r) = &self.receiver else {
            return;
        };
        let mut guard = self.interfaces.lock().unwrap_or_else(|e| e.into_inner());
        let Interfaces {
            metrics,
            events,
            dropped,
        } = &mut *guard;
        let now_ms = crate::flow::Clock::System.now_ms();
        r.take_interface_counters(|ic| {
            if metrics.active() {
                metrics.update(&ic, now_ms, &mut |e| {
                    let pushed = events.as_mut().is_some_and(|p| p.push_deferred(e).is_ok());
                    if !pushed {
                        *dropped += 1;
                    }
                });
            }
            each(ic);
        });
        if let Some(p) = events {
            if p.uncommitted() > 0 {
                p.commit();
            }
        }
    }

    /// The interface metrics' counters, and the events their ring dropped.
    fn interface_stats(&self) -> (InterfaceStats, u64) {
        let g = self.interfaces.lock().unwrap_or_else(|e| e.into_inner());
        (g.metrics.stats(), g.dropped)
    }

    /// Close the interface thresholds' ring (before the sink stops).
    fn close_interface_events(&self) {
        let mut g = self.interfaces.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut p) = g.events.take() {
            p.commit();
        }
    }

    /// Bad datagrams to log now (at most one per sender per window; see
    /// [`Receiver::take_bad_datagrams`]).
    pub fn take_bad_datagrams(&self) -> Vec<crate::rx::BadDatagram> {
        self.receiver
            .as_ref()
            .map(Receiver::take_bad_datagrams)
            .unwrap_or_default()
    }

    pub fn stats(&self) -> PipelineStats {
        let (interfaces, interface_events_dropped) = self.interface_stats();
        PipelineStats {
            interfaces,
            interface_events_dropped,
            rx: self
                .receiver
                .as_ref()
                .map(Receiver::stats)
                .unwrap_or_default(),
            flow: self
                .workers
                .as_ref()
                .map(Workers::stats)
                .unwrap_or_default(),
            sink: self.sink_stats(),
        }
    }

    /// The sender's counters, with those of senders a reload replaced.
    fn sink_stats(&self) -> SinkStats {
        let mut s = self
            .sink
            .as_ref()
            .map(SyslogSink::stats)
            .unwrap_or_default();
        reload::add_sink_base(&mut s, &self.engine.sink_base);
        s
    }

    /// The configuration in force (after reloads; settings a reload did not apply keep
    /// their running values).
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// The report so far, as the final one will look but with every agent and sender of bad
    /// datagrams listed (SIGUSR1 is where an operator asks for the whole table).
    pub fn report(&self) -> RunningReport {
        RunningReport(FinalReport {
            stats: self.stats(),
            uptime: self.started.elapsed(),
            shutdown: Duration::ZERO,
            worker_panics: 0,
            every_agent: true,
        })
    }

    /// Stop receiving, drain the flow engine, flush the sinks (bounded), report.
    pub fn shutdown(mut self) -> FinalReport {
        let begun = Instant::now();
        let uptime = self.started.elapsed();
        let rx = self.receiver.take().map(Receiver::stop).unwrap_or_default();
        // Workers exit once their (now finished) input rings are empty, and join returns
        // their final counters.
        let deadline = begun + self.shutdown_timeout;
        let (flow, worker_panics) = match self.workers.take() {
            Some(w) => {
                let joined = w.join();
                (joined.stats, joined.panicked)
            }
            None => (FlowStats::default(), 0),
        };
        self.close_interface_events();
        let (interfaces, interface_events_dropped) = self.interface_stats();
        let left = deadline.saturating_duration_since(Instant::now());
        let mut sink = self
            .sink
            .take()
            .map(|s| s.shutdown(left))
            .unwrap_or_default();
        reload::add_sink_base(&mut sink, &self.engine.sink_base);
        FinalReport {
            stats: PipelineStats {
                rx,
                flow,
                sink,
                interfaces,
                interface_events_dropped,
            },
            uptime,
            shutdown: begun.elapsed(),
            worker_panics,
            every_agent: self.engine.config.stats.report_agents,
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Same order as shutdown, without waiting for undeliverable events.
        drop(self.receiver.take());
        if let Some(w) = self.workers.take() {
            w.join();
        }
        self.close_interface_events();
        if let Some(s) = self.sink.take() {
            s.shutdown(Duration::ZERO);
        }
    }
}

/// The report of a running collector (its counters so far), printed on SIGUSR1.
pub struct RunningReport(pub FinalReport);

impl fmt::Display for RunningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        // Same body as the final report; the first line says it is not final.
        let body = text.split_once('\n').map_or("", |(_, b)| b);
        writeln!(
            f,
            "flowsift report so far (uptime {:.1} s; SIGUSR1, still running)",
            self.0.uptime.as_secs_f64()
        )?;
        f.write_str(body)
    }
}

/// The periodic stats line: rates since the previous line first, then what was lost since
/// then (drops are what an operator must notice), then the few totals that say whether
/// things work: agents and their loss, each definition's open flows and events, each sink's
/// state, backlog and latency.
pub struct StatsLine<'a> {
    pub now: &'a PipelineStats,
    pub prev: &'a PipelineStats,
    /// Seconds between the two snapshots.
    pub secs: f64,
}

impl fmt::Display for StatsLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (now, prev) = (self.now, self.prev);
        let secs = self.secs.max(1e-9);
        let (n, p) = (&now.rx.totals, &prev.rx.totals);
        let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        let events = |s: &PipelineStats| -> u64 {
            s.flow.definitions.iter().map(|d| d.events_emitted).sum()
        };
        write!(
            f,
            "{:.0} datagrams/s, {:.0} flow samples/s, {:.1} Mbit/s, {:.0} events/s",
            rate(n.datagrams, p.datagrams),
            rate(n.flow_samples, p.flow_samples),
            rate(n.bytes, p.bytes) * 8.0 / 1e6,
            rate(events(now), events(prev)),
        )?;
        let lost = |s: &PipelineStats| s.rx.agent_totals().lost;
        write!(
            f,
            " | new drops: kernel {}, ring {}, decode errors {}, denied {}, agent datagrams lost {}, events {}",
            now.rx.kernel_drops.saturating_sub(prev.rx.kernel_drops),
            n.ring_drops.saturating_sub(p.ring_drops),
            n.decode_errors().saturating_sub(p.decode_errors()),
            n.denied.saturating_sub(p.denied),
            lost(now).saturating_sub(lost(prev)),
            (now.sink.lost() + flow_drops(&now.flow)).saturating_sub(prev.sink.lost() + flow_drops(&prev.flow)),
        )?;
        let troubled = now
            .rx
            .agents
            .iter()
            .filter(|a| {
                a.datagrams.lost + a.datagrams.out_of_order + a.datagrams.duplicates + a.restarts
                    > 0
            })
            .count();
        write!(
            f,
            " | {} agents ({troubled} with loss or restarts)",
            now.rx.agents.len()
        )?;
        for d in &now.flow.definitions {
            write!(
                f,
                "; {}: {} flows, {} events",
                d.name, d.flows_active, d.events_emitted
            )?;
        }
        for d in &now.sink.destinations {
            write!(
                f,
                "; sink {} {}: sent {}, queued {}, p99 {} µs",
                d.name,
                d.state(),
                d.sent,
                d.queued,
                d.latency.p99_us
            )?;
        }
        Ok(())
    }
}

/// Records the flow workers dropped (their event queue full), over every definition.
fn flow_drops(flow: &FlowStats) -> u64 {
    flow.definitions.iter().map(|d| d.events_dropped).sum()
}

impl fmt::Display for FinalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flowsift final report (uptime {:.1} s, shutdown {:.3} s)",
            self.uptime.as_secs_f64(),
            self.shutdown.as_secs_f64()
        )?;
        let rx = if self.every_agent {
            self.stats.rx.report_all().to_string()
        } else {
            self.stats.rx.report().to_string()
        };
        f.write_str(&rx)?;
        if !rx.ends_with('\n') {
            writeln!(f)?;
        }
        writeln!(f, "flow engine report")?;
        for d in &self.stats.flow.definitions {
            writeln!(
                f,
                "  {}: samples matched {}, flows created {}, evicted {}, expired {}, active {}, \
                 events {}, events dropped {}, samples dropped (IPv6 agents full) {}, \
                 threshold events {}",
                d.name,
                d.samples_matched,
                d.flows_created,
                d.flows_evicted,
                d.flows_expired,
                d.flows_active,
                d.events_emitted,
                d.events_dropped,
                d.samples_agents_full,
                d.threshold_events
            )?;
        }
        let i = &self.stats.interfaces;
        if *i != InterfaceStats::default() {
            writeln!(
                f,
                "  interface metrics: interfaces {}, refused {}, out of order {}, restarts {}, no ifSpeed {}, threshold events {}, dropped {}",
                i.interfaces,
                i.refused,
                i.out_of_order,
                i.restarts,
                i.no_speed,
                i.events,
                self.stats.interface_events_dropped
            )?;
        }
        if self.worker_panics > 0 {
            writeln!(f, "  WORKER PANICS: {}", self.worker_panics)?;
        }
        let s = &self.stats.sink;
        writeln!(f, "syslog sender report")?;
        writeln!(
            f,
            "  events taken {}, taken by no sink {}",
            s.events, s.unrouted
        )?;
        for d in &s.destinations {
            writeln!(
                f,
                "  {} {}://{}: sent {}, overflow {}, dropped {}, still queued {}, errors {}, reconnects {}, send calls {}",
                d.name,
                d.transport.name(),
                d.address,
                d.sent,
                d.overflow,
                d.dropped,
                d.queued,
                d.errors,
                d.reconnects,
                d.batches
            )?;
            writeln!(f, "    receipt-to-send {}", d.latency)?;
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::sink::config::Address;

    /// The slice each of this process's threads whose name starts with `prefix` runs with.
    fn slices_of(prefix: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(prefix) {
                continue;
            }
            if let Some(v) = crate::sched::slice_of(&task.path()) {
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn workers_and_senders_run_with_the_configured_slice() {
        // Only where this kernel grants custom slices and shows them.
        let supported = std::thread::Builder::new()
            .name("flowsift-probe".into())
            .spawn(|| {
                crate::sched::request_slice(Duration::from_micros(300)).is_ok()
                    && slices_of("flowsift-probe") == vec![300_000]
            })
            .and_then(|h| h.join().map_err(|_| std::io::ErrorKind::Other.into()))
            .unwrap_or(false);
        if !supported {
            eprintln!("skip: this kernel does not grant or show custom scheduler slices");
            return;
        }
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut cfg = Config::default();
        cfg.rx.listen = vec!["127.0.0.1:0".parse().unwrap()];
        cfg.rx.cores = vec![0];
        cfg.stats.interval_s = 0;
        cfg.sinks[0].address = Address::parse(&sink.local_addr().unwrap().to_string()).unwrap();
        cfg.sinks[0].name = "slicetest".into();
        assert_eq!(cfg.scheduler.slice_us, 100, "the default");
        let pipeline = Pipeline::start(&cfg).unwrap();
        // The threads request their slice as they start: wait for them (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        let (mut workers, mut senders) = (Vec::new(), Vec::new());
        while Instant::now() < deadline {
            // Other tests of this binary may run workers of their own at the same time.
            workers = slices_of("flowsift-flow-");
            senders = slices_of("sink-slicetest");
            if workers.contains(&100_000) && senders == vec![100_000] {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = pipeline.shutdown();
        assert!(workers.contains(&100_000), "flow worker: {workers:?}");
        assert_eq!(senders, vec![100_000], "syslog sender");
    }
}
