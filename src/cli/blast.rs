//! `flowsift blast --to ADDR`: runs the load generator ([`crate::blast`]) until a signal,
//! its duration or its count, with a live rate line on stderr and a summary at the end.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blast::{blast, BlastArgs, BlastCounters};

pub fn run(args: BlastArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let counters = Arc::new(BlastCounters::default());
    let done = Arc::new(AtomicBool::new(false));
    let ticker = (!args.quiet).then(|| {
        let counters = Arc::clone(&counters);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = (Instant::now(), 0u64, 0u64, 0u64);
            // Ends when the blast is done.
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let el = last.0.elapsed();
                if el < Duration::from_secs(1) {
                    continue;
                }
                let d = counters.datagrams.load(Ordering::Relaxed);
                let s = counters.flow_samples.load(Ordering::Relaxed);
                let b = counters.bytes.load(Ordering::Relaxed);
                let secs = el.as_secs_f64();
                eprintln!(
                    "blast: {:.0} datagrams/s, {:.0} flow samples/s, {:.2} Gbit/s",
                    (d - last.1) as f64 / secs,
                    (s - last.2) as f64 / secs,
                    (b - last.3) as f64 * 8.0 / secs / 1e9
                );
                last = (Instant::now(), d, s, b);
            }
        })
    });
    let result = blast(&args, &stop, &counters);
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    match result {
        Ok(s) => {
            eprintln!(
                "blast: sent {} datagrams ({} flow samples, {} counter samples, {} bytes) to {} in {:.3} s: {:.0} datagrams/s, GSO {}",
                s.datagrams,
                s.flow_samples,
                s.counter_samples,
                s.bytes,
                args.to,
                s.elapsed.as_secs_f64(),
                s.rate(),
                if s.gso { "on" } else { "off" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowsift blast: {e}");
            ExitCode::FAILURE
        }
    }
}
