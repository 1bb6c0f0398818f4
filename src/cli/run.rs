//! `flowsift run`: placeholder until its owner fills it in.

use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs) -> ExitCode {
    eprintln!("flowsift: 'run' is not built yet");
    ExitCode::FAILURE
}
