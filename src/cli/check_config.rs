//! `flowsift check-config FILE`: validate a configuration and print the effective one.
//!
//! It refuses what `run` would refuse, and a little more: beyond the file's own checks
//! (errors as `FILE:LINE:COLUMN: message`, so editors and CI can jump to them), every sink's
//! TLS files are loaded as `run` loads them and every sink's host is resolved, so a missing
//! CA file or a misspelt SIEM host shows before a deployment rather than in its log. Exit 2
//! on any error; the effective configuration (every default filled in) goes to stdout as
//! TOML.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::sink::transport::Connector;

#[derive(Debug, Default, clap::Args)]
pub struct CheckConfigArgs {
    /// The TOML configuration file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> ExitCode {
    let config = match Config::load(&args.file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("flowsift: {e}");
            return ExitCode::from(2);
        }
    };
    let problems = sink_problems(&config);
    for p in &problems {
        eprintln!("flowsift: {}: {p}", args.file.display());
    }
    if !problems.is_empty() {
        return ExitCode::from(2);
    }
    for w in config.warnings() {
        eprintln!("flowsift: warning: {w}");
    }
    print!("{}", config.to_toml());
    eprintln!("flowsift: {}: configuration is valid", args.file.display());
    ExitCode::SUCCESS
}

/// What would stop a sink from working: TLS files that do not load (as `run` loads them at
/// start) and hosts that do not resolve.
fn sink_problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for sink in &config.sinks {
        match Connector::new(sink) {
            Ok(connector) => {
                if let Err(e) = connector.resolve() {
                    out.push(format!(
                        "sink '{}': cannot resolve {}: {e}",
                        sink.name, sink.address
                    ));
                }
            }
            Err(e) => out.push(e),
        }
    }
    out
}
