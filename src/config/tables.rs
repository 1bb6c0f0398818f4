//! The tables of the collector's own settings that no other module owns: `[workers]`,
//! `[stats]`, `[shutdown]`, `[metrics]` and `[scheduler]`. Each refuses unknown keys and
//! takes its defaults from named functions, so the defaults read in one place and
//! `check-config` prints them.

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

/// `[workers]`: the flow engine's threads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// Flow worker threads; flows are sharded over them by hash.
    #[serde(default = "default_worker_count")]
    pub count: NonZeroUsize,
    /// Cores to pin worker `i` to (`cores[i]`); missing entries stay unpinned.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Events each worker may hold for the syslog sender before it drops (and counts) them.
    #[serde(default = "default_event_queue")]
    pub event_queue: NonZeroUsize,
}

fn default_worker_count() -> NonZeroUsize {
    NonZeroUsize::MIN
}
fn default_event_queue() -> NonZeroUsize {
    NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            count: default_worker_count(),
            cores: Vec::new(),
            event_queue: default_event_queue(),
        }
    }
}

/// `[stats]`: the periodic line on stderr.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsConfig {
    /// Seconds between stats lines; 0 turns them off (the final report is always printed).
    #[serde(default = "default_stats_interval")]
    pub interval_s: u64,
    /// The final report lists every agent and every sender of bad datagrams (true), or the
    /// totals and at most 20 of the agents with loss or restarts (false, the default: a
    /// fabric of thousands of agents would bury the totals).
    #[serde(default)]
    pub report_agents: bool,
}

fn default_stats_interval() -> u64 {
    10
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            interval_s: default_stats_interval(),
            report_agents: false,
        }
    }
}

/// `[shutdown]`: what SIGTERM/SIGINT may cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Longest time, in milliseconds, to deliver queued events after the receivers stop;
    /// what is still queued then is dropped and counted.
    #[serde(default = "default_shutdown_timeout")]
    pub timeout_ms: u64,
}

fn default_shutdown_timeout() -> u64 {
    5_000
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout_ms: default_shutdown_timeout(),
        }
    }
}

/// `[metrics]`: the Prometheus endpoint ([`crate::metrics`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint serving `GET /metrics` (e.g. `127.0.0.1:9343`); none:
    /// no endpoint. It binds only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
    /// Most fabric interface series (`sflow_*`, one per agent, interface and counter)
    /// kept; samples of interfaces beyond are counted, not exported.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_max_series() -> usize {
    100_000
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            max_series: default_max_series(),
        }
    }
}

/// `[scheduler]`: what the pipeline asks of the kernel's scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// The EEVDF slice, in microseconds, that the threads which sleep between items (flow
    /// workers, syslog senders) request, so that their wake-ups preempt longer-slice tasks
    /// at once instead of waiting up to a scheduler tick ([`crate::sched`]); 0 keeps the
    /// kernel default. The kernel accepts 100 to 100 000 (Linux 6.12 and later; older
    /// kernels ignore it).
    #[serde(default = "default_slice_us")]
    pub slice_us: u64,
}

fn default_slice_us() -> u64 {
    100
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            slice_us: default_slice_us(),
        }
    }
}
