//! The script thread's counters ([`ScriptCounters`], shared with the sender's tap and the
//! scripts' syslog) and their snapshot ([`ScriptStats`]), which the stats line and the
//! shutdown report print. Atomics, so the thread counts without a lock and the run loop
//! reads at any time.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::script::syslog::SyslogCounters;
use crate::sink::TapCounters;

/// Counters of the script thread.
#[derive(Debug, Default)]
pub struct ScriptCounters {
    /// Records and events queued for the handlers, and dropped because the queue was full.
    pub tap: Arc<TapCounters>,
    /// Records and events handed to the handlers.
    pub handled: AtomicU64,
    /// Handler calls that threw.
    pub errors: AtomicU64,
    /// Handler calls cut by the deadline.
    pub interrupted: AtomicU64,
    pub syslog: Arc<SyslogCounters>,
    /// Configuring calls made after load.
    pub calls_after_load: Arc<AtomicU64>,
    /// Sets of definitions handed to the run loop.
    pub updates: AtomicU64,
    /// Sets the run loop applied, and refused.
    pub applied: AtomicU64,
    pub refused: AtomicU64,
}

/// A snapshot of [`ScriptCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptStats {
    pub queued: u64,
    pub overflow: u64,
    pub handled: u64,
    pub errors: u64,
    pub interrupted: u64,
    pub syslog_sent: u64,
    pub syslog_batches: u64,
    pub syslog_dropped: u64,
    pub calls_after_load: u64,
    pub updates: u64,
    pub applied: u64,
    pub refused: u64,
}

impl fmt::Display for ScriptStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records and events queued {}, dropped (queue full) {}, handled {}, handler errors {}, \
             interrupted {}; syslog sent {}, send calls {}, dropped {}",
            self.queued,
            self.overflow,
            self.handled,
            self.errors,
            self.interrupted,
            self.syslog_sent,
            self.syslog_batches,
            self.syslog_dropped
        )?;
        if self.calls_after_load > 0 {
            write!(
                f,
                "; configuring calls after load {}, applies {} (applied {}, refused {})",
                self.calls_after_load, self.updates, self.applied, self.refused
            )?;
        }
        Ok(())
    }
}
