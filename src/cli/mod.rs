//! Command-line interface: one file per subcommand; this module only parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// flowsift: a fast, exact sFlow v5 collector.
#[derive(Debug, Parser)]
#[command(name = "flowsift", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // Subcommands are added by their modules: decode, run, replay, blast, check-config.
}

/// Parse the process arguments and run the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => ExitCode::SUCCESS,
    }
}
