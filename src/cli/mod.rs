//! Command-line interface: one file per subcommand; this module only parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod blast;
pub mod check_config;
pub mod decode;
pub mod docs;
pub mod replay;
pub mod run;

/// flowsift: a fast, exact sFlow v5 collector.
///
/// Without a subcommand it runs the collector (`flowsift run`) on its embedded default
/// configuration.
#[derive(Debug, Parser)]
#[command(name = "flowsift", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector.
    Run(run::RunArgs),
    /// Validate a configuration file and print the effective configuration.
    CheckConfig(check_config::CheckConfigArgs),
    /// Decode sFlow datagrams from pcap, pcapng or raw files.
    Decode(decode::DecodeArgs),
    /// Send the sFlow datagrams of capture files to a collector.
    Replay(crate::replay::ReplayArgs),
    /// Generate synthetic fabric sFlow traffic at high rates.
    Blast(crate::blast::BlastArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(docs::CompletionsArgs),
    /// Print the flowsift(1) manual page (roff) to stdout.
    Manpage,
}

/// Parse the process arguments and run the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run::run(run::RunArgs::default()),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::CheckConfig(args)) => check_config::run(args),
        Some(Command::Decode(args)) => decode::run(args),
        Some(Command::Replay(args)) => replay::run(args),
        Some(Command::Blast(args)) => blast::run(args),
        Some(Command::Completions(args)) => docs::completions(args),
        Some(Command::Manpage) => docs::manpage(),
    }
}
