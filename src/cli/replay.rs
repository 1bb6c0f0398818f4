//! `flowsift replay FILE... --to ADDR`: reads the files' datagrams and sends them
//! ([`crate::replay`]) until done or a signal, then prints what it sent.

use std::io::{self, Read};
use std::process::ExitCode;

use crate::replay::{datagrams_in, read_datagrams, Replay, ReplayArgs};

pub fn run(args: ReplayArgs) -> ExitCode {
    let mut datagrams = Vec::new();
    for f in &args.files {
        let result = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| e.to_string())
                .and_then(|_| datagrams_in(&b).map_err(|e| format!("-: {e}")))
        } else {
            read_datagrams(f).map_err(|e| e.to_string())
        };
        match result {
            Ok(mut d) => datagrams.append(&mut d),
            Err(e) => {
                eprintln!("flowsift replay: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if datagrams.is_empty() {
        eprintln!("flowsift replay: no sFlow datagrams in the given files");
        return ExitCode::FAILURE;
    }
    let replay = Replay {
        to: args.to,
        rate: args.rate,
        loops: args.loops,
        rewrite_agent: args.rewrite_agent,
        agents: args.agents,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, std::sync::Arc::clone(&stop));
    }
    let flag = std::sync::Arc::clone(&stop);
    match replay.run(&datagrams, &move || {
        flag.load(std::sync::atomic::Ordering::Relaxed)
    }) {
        Ok(s) => {
            let secs = s.elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "replay: {} datagrams ({} bytes) to {} in {:.3} s, {:.0} datagrams/s{}",
                s.datagrams,
                s.bytes,
                args.to,
                secs,
                s.datagrams as f64 / secs,
                if s.skipped > 0 {
                    format!(", {} skipped (unreadable header)", s.skipped)
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowsift replay: {e}");
            ExitCode::FAILURE
        }
    }
}
