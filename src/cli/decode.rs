//! `flowsift decode`: placeholder until its owner fills it in.

use std::process::ExitCode;

#[derive(Debug, Default, clap::Args)]
pub struct DecodeArgs {}

pub fn run(_args: DecodeArgs) -> ExitCode {
    eprintln!("flowsift: 'decode' is not built yet");
    ExitCode::FAILURE
}
