//! `flowsift check-config FILE`: validate a configuration and print the effective one.
//!
//! Errors go to stderr as `FILE:LINE:COLUMN: message` (exit 2), so editors and CI can jump
//! to them; the effective configuration (defaults filled in) goes to stdout as TOML.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

#[derive(Debug, Default, clap::Args)]
pub struct CheckConfigArgs {
    /// The TOML configuration file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> ExitCode {
    match Config::load(&args.file) {
        Ok(config) => {
            for w in config.warnings() {
                eprintln!("flowsift: warning: {w}");
            }
            print!("{}", config.to_toml());
            eprintln!("flowsift: {}: configuration is valid", args.file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowsift: {e}");
            ExitCode::from(2)
        }
    }
}
