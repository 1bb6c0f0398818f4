//! `flowsift replay`: placeholder until its owner fills it in.

use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
pub struct ReplayArgs {}

pub fn run(_args: ReplayArgs) -> ExitCode {
    eprintln!("flowsift: 'replay' is not built yet");
    ExitCode::FAILURE
}
