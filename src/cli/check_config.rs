//! `flowsift check-config`: placeholder until its owner fills it in.

use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
pub struct CheckConfigArgs {}

pub fn run(_args: CheckConfigArgs) -> ExitCode {
    eprintln!("flowsift: 'check-config' is not built yet");
    ExitCode::FAILURE
}
