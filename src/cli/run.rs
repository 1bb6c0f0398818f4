//! `flowsift run`: load the configuration, apply command-line overrides, run the pipeline
//! until SIGTERM or SIGINT, print stats periodically and a final report at the end.
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
use crate::pipeline::{Pipeline, StatsLine};
use crate::rx::IoMode;
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
}

impl RunArgs {
    /// The configuration file (or the embedded default) with the flags applied.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
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

/// Run the collector until SIGTERM or SIGINT; exit 0 after a clean shutdown, 2 on a
/// configuration error, 1 when the pipeline cannot start.
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
    // Register before anything starts, so an early signal is a clean stop, not a kill.
    // A second signal while stopping exits at once (status 1), for an operator who will not
    // wait for the flush.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let registered =
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("flowsift: cannot handle signal {sig}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let pipeline = match Pipeline::start(&config) {
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
    eprintln!(
        "flowsift: listening on {}; {} flow definition(s), {} worker(s); sending to {}",
        addrs.join(", "),
        config.flows.len(),
        config.workers.count,
        sinks.join(", ")
    );

    let interval = Duration::from_secs(config.stats.interval_s);
    let mut last = Instant::now();
    let mut prev = pipeline.stats();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        for bad in pipeline.take_bad_datagrams() {
            eprintln!("flowsift: rx: {bad}");
        }
        if !interval.is_zero() && last.elapsed() >= interval {
            let now = pipeline.stats();
            let secs = last.elapsed().as_secs_f64();
            let line = StatsLine {
                now: &now,
                prev: &prev,
                secs,
            };
            eprintln!("flowsift: {line}");
            prev = now;
            last = Instant::now();
        }
    }
    eprintln!("flowsift: stopping: receivers off, draining the flow engine, flushing sinks");
    let report = pipeline.shutdown();
    eprint!("{report}");
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
