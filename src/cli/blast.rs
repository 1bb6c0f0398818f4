//! `flowsift blast`: placeholder until its owner fills it in.

use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
pub struct BlastArgs {}

pub fn run(_args: BlastArgs) -> ExitCode {
    eprintln!("flowsift: 'blast' is not built yet");
    ExitCode::FAILURE
}
