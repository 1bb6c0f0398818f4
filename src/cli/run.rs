//! `flowsift run`: load the configuration, apply command-line overrides, run the pipeline
//! until SIGTERM or SIGINT, print stats periodically and a final report at the end;
//! SIGHUP reloads the configuration file, SIGUSR1 prints the report so far, and systemd
//! hears of readiness, reloads and the stop through `$NOTIFY_SOCKET`.
//!
//! The logic lives in [`crate::config`] and [`crate::pipeline`]; this file only parses
//! flags, reports errors and waits for a signal.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::metrics::fabric::FabricTable;
use crate::metrics::{Exchange, MetricsServer, Snapshot};
use crate::pipeline::{Pipeline, StatsLine};
use crate::rx::IoMode;
use crate::script::api::Native;
use crate::script::engine::Definitions;
use crate::script::ScriptHost;
use crate::sink::config::{Facility, HostName, Severity};
use crate::sink::format::Format;
use crate::sink::SinkConfig;

/// Options of `flowsift run`; with none, the embedded default configuration runs.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (see tuning/flowsift.toml); default: the embedded seed.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, replacing `listen` in `[rx]` (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Syslog destination udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT (repeatable);
    /// replaces the configured sinks with one per URL, each with the first sink's settings.
    #[arg(long, value_name = "URL")]
    pub syslog: Vec<String>,
    /// Message format for every sink: sflow-rt, rfc5424 or json.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Syslog facility for every sink: 0..=23 or a name (local0).
    #[arg(long, value_name = "FACILITY")]
    pub facility: Option<String>,
    /// Syslog severity for every sink: 0..=7 or a name (notice).
    #[arg(long, value_name = "SEVERITY")]
    pub severity: Option<String>,
    /// HOST field for every sink (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Receive interface: uring or recvmmsg.
    #[arg(long, value_name = "IO")]
    pub io: Option<IoMode>,
    /// Cores for the receive threads, comma-separated (one thread per core).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub rx_cores: Option<Vec<usize>>,
    /// Number of flow worker threads.
    #[arg(long, value_name = "N")]
    pub workers: Option<NonZeroUsize>,
    /// Seconds between stats lines on stderr (0: none).
    #[arg(long, value_name = "SECONDS")]
    pub stats_interval: Option<u64>,
    /// List every agent and every sender of bad datagrams in the final report, not only the
    /// totals and the worst 20 (`[stats] report_agents`).
    #[arg(long)]
    pub report_agents: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, replacing `listen` in `[metrics]`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Run an sFlow-RT JavaScript application (repeatable), after `[script] files`.
    #[arg(long, value_name = "FILE")]
    pub script: Vec<PathBuf>,
    /// A system property for the scripts' `getSystemProperty`, as sFlow-RT spells it:
    /// `-Dname=value`; `-Dscript.file=FILE` runs a script (repeatable).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub define: Vec<String>,
}

impl RunArgs {
    /// The configuration file (or the embedded default) with the flags applied.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let scripts = !self.script.is_empty()
            || self.define.iter().any(|d| {
                d.split_once('=')
                    .is_some_and(|(n, _)| n.trim() == crate::script::config::SCRIPT_FILE_PROPERTY)
            });
        let mut config = match &self.config {
            Some(path) => Config::load_with_scripts(path, scripts)?,
            None if scripts => Config {
                flows: Vec::new(),
                sinks: Vec::new(),
                ..Config::embedded()
            },
            None => Config::embedded(),
        };
        self.apply(&mut config).map_err(|message| ConfigError {
            origin: "<command line>".into(),
            line: 0,
            column: 0,
            message,
        })?;
        Ok(config)
    }

    /// Apply the overrides, then re-check the whole configuration.
    pub fn apply(&self, config: &mut Config) -> Result<(), String> {
        config.script.files.extend(self.script.iter().cloned());
        for d in &self.define {
            config.script.define(d)?;
        }
        if !self.listen.is_empty() {
            config.rx.listen = self.listen.clone();
        }
        if let Some(io) = self.io {
            config.rx.io = io;
        }
        if let Some(cores) = &self.rx_cores {
            config.rx.cores = cores.clone();
        }
        if let Some(n) = self.workers {
            config.workers.count = n;
        }
        if let Some(s) = self.stats_interval {
            config.stats.interval_s = s;
        }
        if self.report_agents {
            config.stats.report_agents = true;
        }
        if let Some(m) = self.metrics {
            config.metrics.listen = Some(m);
        }
        if !self.syslog.is_empty() {
            let template = config.sinks.first().cloned().unwrap_or_default();
            let mut sinks = Vec::with_capacity(self.syslog.len());
            for (i, url) in self.syslog.iter().enumerate() {
                let (transport, address) =
                    SinkConfig::parse_url(url).map_err(|e| format!("--syslog {e}"))?;
                let mut s = template.clone();
                s.name = if i == 0 {
                    template.name.clone()
                } else {
                    format!("{}-{}", template.name, i + 1)
                };
                s.transport = transport;
                s.address = address;
                if transport != crate::sink::config::Transport::Tls {
                    s.tls = None;
                }
                sinks.push(s);
            }
            config.sinks = sinks;
        }
        let format = match &self.format {
            Some(f) => Some(
                Format::from_name(f)
                    .ok_or_else(|| format!("--format '{f}': expected sflow-rt, rfc5424 or json"))?,
            ),
            None => None,
        };
        let facility = self
            .facility
            .as_deref()
            .map(Facility::parse)
            .transpose()
            .map_err(|e| format!("--facility: {e}"))?;
        let severity = self
            .severity
            .as_deref()
            .map(Severity::parse)
            .transpose()
            .map_err(|e| format!("--severity: {e}"))?;
        let hostname = self
            .hostname
            .as_deref()
            .map(HostName::parse)
            .transpose()
            .map_err(|e| format!("--hostname: {e}"))?;
        for s in &mut config.sinks {
            if let Some(f) = format {
                s.format = f;
            }
            if let Some(f) = facility {
                s.facility = f;
            }
            if let Some(v) = severity {
                s.severity = v;
            }
            if let Some(h) = &hostname {
                s.hostname = Some(h.clone());
            }
        }
        config.check()
    }
}

/// Signals the run loop watches, each a flag set by its handler.
struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    report: Arc<AtomicBool>,
}

impl Signals {
    /// Register before anything starts, so an early signal is a clean stop, not a kill.
    fn register() -> Result<Signals, String> {
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
            report: Arc::new(AtomicBool::new(false)),
        };
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let stop = Arc::clone(&s.stop);
            // A second SIGTERM/SIGINT while stopping exits at once (status 1), for an
            // operator who will not wait for the flush; the handler says so with write(2)
            // and _exit(2), both async-signal-safe.
            let action = move || {
                if stop.swap(true, Ordering::SeqCst) {
                    const MSG: &[u8] = b"flowsift: second stop signal during shutdown: exiting at once with status 1; events still queued are lost\n";
                    // SAFETY: write(2) on fd 2 with a static buffer and its length is
                    // async-signal-safe and touches no Rust state.
                    unsafe {
                        libc::write(2, MSG.as_ptr().cast(), MSG.len());
                    }
                    signal_hook::low_level::exit(1);
                }
            };
            // SAFETY: the action only swaps an atomic, calls write(2) and _exit(2): all
            // async-signal-safe, no allocation, no lock.
            unsafe { signal_hook::low_level::register(sig, action) }
                .map_err(|e| format!("cannot handle signal {sig}: {e}"))?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&s.reload))
            .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&s.report))
            .map_err(|e| format!("cannot handle SIGUSR1: {e}"))?;
        Ok(s)
    }
}

/// Re-read the configuration file (with the command line's overrides) and apply it.
/// Returns whether it was applied; every outcome is logged.
/// `base` is the configuration file's part of the running configuration (without the
/// scripts' definitions); it becomes the file's new content when the reload applies.
fn reload(
    args: &RunArgs,
    base: &mut Config,
    pipeline: &mut Pipeline,
    scripts: Option<&ScriptHost>,
) -> bool {
    let Some(path) = &args.config else {
        eprintln!(
            "flowsift: SIGHUP: running on the embedded default configuration (no --config): nothing to reload"
        );
        return true;
    };
    eprintln!("flowsift: SIGHUP: reloading {}", path.display());
    let mut file = None;
    let config = match args.resolve().map_err(|e| e.to_string()).and_then(|mut c| {
        file = Some(c.clone());
        if let Some(host) = scripts {
            if c.script != pipeline.config().script {
                return Err(
                    "[script] changed: scripts load only at start-up; restart to change them"
                        .into(),
                );
            }
            with_script_config(&mut c, host.definitions())?;
        }
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowsift: reload refused, the running configuration goes on: {e}");
            return false;
        }
    };
    let mut not_applied = Vec::new();
    if config.metrics != pipeline.config().metrics {
        not_applied.push("metrics".to_string());
    }
    match pipeline.reload(&config) {
        Ok(mut outcome) => {
            outcome.not_applied.extend(not_applied);
            for w in config.warnings() {
                eprintln!("flowsift: warning: {w}");
            }
            eprintln!("flowsift: reloaded: {outcome}");
            if let Some(file) = file {
                if let Some(host) = scripts {
                    host.set_native(native(&file));
                }
                *base = file;
            }
            true
        }
        Err(e) => {
            eprintln!("flowsift: reload failed: {e}");
            false
        }
    }
}

/// Add what the scripts configured (`setGroups`, `setFlow`, `setThreshold`) to
/// `config`'s own group sets, flows and thresholds, then check the whole as the
/// configuration file's own tables are checked; a name both define is an error.
fn with_script_config(config: &mut Config, defs: &Definitions) -> Result<(), String> {
    for g in &defs.groups {
        if config.groups.iter().any(|c| c.name == g.name) {
            return Err(format!(
                "group set '{}' is defined both by a [[group]] table and by a script's setGroups",
                g.name
            ));
        }
        let set = g.load(None).map_err(|e| e.to_string())?;
        config.group_sets.insert(set);
        config.groups.push(g.clone());
    }
    for f in &defs.flows {
        if config.flows.iter().any(|c| c.name == f.name) {
            return Err(format!(
                "flow '{}' is defined both by a [[flow]] table and by a script's setFlow",
                f.name
            ));
        }
        config.flows.push(f.clone());
    }
    for t in &defs.thresholds {
        if config.thresholds.iter().any(|c| c.name == t.name) {
            return Err(format!(
                "threshold '{}' is defined both by a [[threshold]] table and by a script's setThreshold",
                t.name
            ));
        }
        config.thresholds.push(t.clone());
    }
    let thresholds = config.thresholds()?;
    config.definitions(&thresholds)?;
    config.check_sink_flows()
}

/// Apply the definitions a script changed after load (`setFlow`, `setGroups`, ... from a
/// handler) over the configuration file's part `base`, through the SIGHUP reload path:
/// unchanged flows and thresholds keep their state. Refused (a name a table also
/// defines, a threshold on a flow cleared, ...): logged, and the running set stays.
fn apply_script_update(base: &Config, pipeline: &mut Pipeline, host: &mut ScriptHost) {
    let Some(defs) = host.take_update() else {
        return;
    };
    let mut config = base.clone();
    let applied = with_script_config(&mut config, &defs).and_then(|()| match host.tap_for(&defs) {
        Some(tap) => pipeline.reload_with_tap(&config, tap),
        None => pipeline.reload(&config),
    });
    match applied {
        Ok(outcome) => {
            eprintln!("flowsift: script: definitions changed, applied: {outcome}");
            host.accept(defs);
        }
        Err(e) => {
            eprintln!(
                "flowsift: script: definitions changed, refused, the running ones go on: {e}"
            );
            host.refuse();
        }
    }
}

/// What the configuration file defines, for the scripts' specs to be checked against.
fn native(config: &Config) -> Native {
    Native {
        flows: config.flows.clone(),
        groups: config.group_sets.clone(),
        thresholds: config.thresholds.iter().map(|t| t.name.clone()).collect(),
    }
}

/// Run the collector until SIGTERM or SIGINT; exit 0 after a clean shutdown, 2 on a
/// configuration error, 1 when the pipeline cannot start. SIGHUP reloads the
/// configuration file, SIGUSR1 prints the current report.
pub fn run(args: RunArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowsift: {e}");
            return ExitCode::from(2);
        }
    };
    for w in config.warnings() {
        eprintln!("flowsift: warning: {w}");
    }
    let signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flowsift: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exchange = Exchange::new();
    let metrics = match config.metrics.listen {
        Some(addr) => match MetricsServer::start(addr, Arc::clone(&exchange)) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("flowsift: cannot serve metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let mut base = config.clone();
    let mut config = config;
    let mut scripts = if config.script.is_empty() {
        None
    } else {
        let loaded = ScriptHost::load_with(&config.script, native(&config))
            .and_then(|host| with_script_config(&mut config, host.definitions()).map(|()| host));
        match loaded {
            Ok(host) => Some(host),
            Err(e) => {
                eprintln!("flowsift: cannot start: script: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let start_time = crate::metrics::unix_now();
    let mut fabric = FabricTable::new(config.metrics.max_series);
    let tap = scripts.as_ref().and_then(ScriptHost::tap);
    let mut pipeline = match Pipeline::start_with_tap(&config, tap) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("flowsift: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addrs: Vec<String> = pipeline
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let sinks: Vec<String> = config
        .sinks
        .iter()
        .map(|s| {
            format!(
                "{} {}://{} ({})",
                s.name,
                s.transport.name(),
                s.address,
                s.format.name()
            )
        })
        .collect();
    let script_files: Vec<String> = config
        .script
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    eprintln!(
        "flowsift: listening on {}; {} flow definition(s), {} worker(s); sending to {}{}",
        addrs.join(", "),
        config.flows.len(),
        config.workers.count,
        if sinks.is_empty() {
            "no sink".to_string()
        } else {
            sinks.join(", ")
        },
        if script_files.is_empty() {
            String::new()
        } else {
            format!("; scripts: {}", script_files.join(", "))
        }
    );
    if let Some(m) = &metrics {
        eprintln!("flowsift: metrics on http://{}/metrics", m.local_addr());
    }
    crate::notify::notify_or_log(&format!(
        "READY=1\nSTATUS=listening on {}",
        addrs.join(", ")
    ));

    let (mut reloads_ok, mut reloads_failed) = (0u64, 0u64);
    let mut last = Instant::now();
    let mut prev = pipeline.stats();
    while !signals.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        for bad in pipeline.take_bad_datagrams() {
            eprintln!("flowsift: rx: {bad}");
        }
        // One reload for any number of SIGHUPs that arrived since the last: the file is
        // read once, after the last of them, so a storm leaves one consistent state.
        if signals.reload.swap(false, Ordering::AcqRel) {
            crate::notify::notify_or_log(&crate::notify::reloading_state());
            if reload(&args, &mut base, &mut pipeline, scripts.as_ref()) {
                reloads_ok += 1;
            } else {
                reloads_failed += 1;
            }
            crate::notify::notify_or_log("READY=1\nSTATUS=running");
        }
        if let Some(host) = scripts.as_mut() {
            apply_script_update(&base, &mut pipeline, host);
        }
        if signals.report.swap(false, Ordering::AcqRel) {
            eprint!("{}", pipeline.report());
        }
        pipeline.take_interface_counters(|ic| {
            if metrics.is_some() {
                fabric.update(ic);
            }
        });
        if metrics.is_some() && exchange.wanted() {
            exchange.publish(Snapshot {
                stats: pipeline.stats(),
                fabric: fabric.clone(),
                reloads_ok,
                reloads_failed,
                start_time,
            });
        }
        let interval = Duration::from_secs(pipeline.config().stats.interval_s);
        if !interval.is_zero() && last.elapsed() >= interval {
            let now = pipeline.stats();
            let secs = last.elapsed().as_secs_f64();
            let line = StatsLine {
                now: &now,
                prev: &prev,
                secs,
            };
            match &scripts {
                Some(s) => eprintln!("flowsift: {line}; scripts: {}", s.stats()),
                None => eprintln!("flowsift: {line}"),
            }
            prev = now;
            last = Instant::now();
        }
    }
    crate::notify::notify_or_log("STOPPING=1");
    eprintln!("flowsift: stopping: receivers off, draining the flow engine, flushing sinks");
    drop(metrics);
    let report = pipeline.shutdown();
    eprint!("{report}");
    if let Some(s) = scripts {
        let stats = s.shutdown(Duration::from_millis(config.shutdown.timeout_ms));
        eprintln!("script report\n  {stats}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::config::Transport;

    #[test]
    fn overrides_apply_over_the_file() {
        let args = RunArgs {
            listen: vec!["127.0.0.1:7000".parse().unwrap()],
            syslog: vec![
                "tcp://10.1.1.1:601".into(),
                "tls://siem.example:6514".into(),
            ],
            format: Some("json".into()),
            facility: Some("local3".into()),
            severity: Some("4".into()),
            workers: NonZeroUsize::new(3),
            rx_cores: Some(vec![0, 1]),
            io: Some(IoMode::Recvmmsg),
            stats_interval: Some(0),
            ..RunArgs::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(
            c.rx.listen,
            vec!["127.0.0.1:7000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            (c.rx.io, c.rx.cores.clone()),
            (IoMode::Recvmmsg, vec![0, 1])
        );
        assert_eq!(c.workers.count.get(), 3);
        assert_eq!(c.stats.interval_s, 0);
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.sinks[0].transport, Transport::Tcp);
        assert_eq!(c.sinks[0].address.to_string(), "10.1.1.1:601");
        assert_eq!(c.sinks[1].transport, Transport::Tls);
        assert_eq!(c.sinks[1].name, "syslog-2");
        assert!(c
            .sinks
            .iter()
            .all(|s| s.format == Format::Json && s.facility.0 == 19 && s.severity.0 == 4));
    }

    #[test]
    fn no_flags_is_the_embedded_seed() {
        assert_eq!(RunArgs::default().resolve().unwrap(), Config::embedded());
    }

    #[test]
    fn bad_overrides_say_what_is_valid() {
        let e = RunArgs {
            syslog: vec!["http://x:1".into()],
            ..RunArgs::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("udp, tcp or tls"), "{e}");
        let e = RunArgs {
            format: Some("cef".into()),
            ..RunArgs::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("sflow-rt, rfc5424 or json"), "{e}");
        let e = RunArgs {
            config: Some("/nonexistent/flowsift.toml".into()),
            ..RunArgs::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/flowsift.toml: cannot read"),
            "{e}"
        );
    }
}
