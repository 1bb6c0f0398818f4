//! `flowsift decode FILE...`: print the sFlow datagrams of capture files or raw datagram
//! files, as `sflowtool -l` lines or as JSON Lines.
//!
//! This module only parses the flags, opens the inputs and reports failures; reading
//! captures is [`crate::capture`], the output formats are [`crate::decode_tool::line`] and
//! [`crate::decode_tool::json`]. A datagram (or one of its samples) that fails to decode is
//! reported on stderr with its file and packet number, decoding goes on, and the exit code
//! is 1 when anything failed.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::capture::{for_each_datagram, CaptureCounts, PortFilter};
use crate::decode_tool::json::{datagram_lines, Origin};
use crate::decode_tool::line::sample_line;
use crate::sflow::{Datagram, SampleError};

/// Output formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `sflowtool -l` lines: `FLOW,...` per flow sample, `CNTR,...` per counter sample.
    #[default]
    Line,
    /// JSON Lines: one object per sample.
    Json,
}

#[derive(Debug, Default, clap::Args)]
pub struct DecodeArgs {
    /// Capture files (pcap or pcapng), or raw datagram files with --raw; `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Line)]
    pub format: Format,
    /// UDP destination port of the sFlow datagrams in captures.
    #[arg(long, default_value_t = 6343)]
    pub port: u16,
    /// Take every UDP datagram of a capture as sFlow, whatever its port.
    #[arg(long, conflicts_with = "port")]
    pub any_port: bool,
    /// Each file holds one raw sFlow datagram (a UDP payload), not a capture.
    #[arg(long)]
    pub raw: bool,
}

pub fn run(args: DecodeArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut decoder = Decoder {
        format: args.format,
        failed: false,
        text: String::new(),
    };
    let filter = if args.any_port {
        PortFilter::Any
    } else {
        PortFilter::Destination(args.port)
    };
    for path in &args.files {
        let name = path.display().to_string();
        let result = if name == "-" {
            decoder.input(&name, io::stdin().lock(), args.raw, filter, &mut out)
        } else {
            match File::open(path) {
                Ok(f) => decoder.input(&name, f, args.raw, filter, &mut out),
                Err(e) => Err(e.to_string()),
            }
        };
        if let Err(e) = result {
            if e == BROKEN_PIPE {
                return ExitCode::SUCCESS;
            }
            eprintln!("flowsift decode: {name}: {e}");
            decoder.failed = true;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    if decoder.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The reader of stdout went away (`| head`): stop quietly.
const BROKEN_PIPE: &str = "broken pipe";

struct Decoder {
    format: Format,
    failed: bool,
    /// Reused output buffer for one datagram.
    text: String,
}

impl Decoder {
    fn input(
        &mut self,
        name: &str,
        mut input: impl Read,
        raw: bool,
        filter: PortFilter,
        out: &mut impl Write,
    ) -> Result<(), String> {
        if raw {
            let mut bytes = Vec::new();
            input.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            return self.datagram(name, 1, &bytes, out);
        }
        let mut write_error = None;
        let counts = for_each_datagram(input, filter, |packet, bytes| {
            if write_error.is_none() {
                write_error = self.datagram(name, packet, bytes, out).err();
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some(e) = write_error {
            return Err(e);
        }
        match nothing_taken(&counts, filter) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Decode and print one datagram; decode failures go to stderr, only write failures
    /// come back as errors.
    fn datagram(
        &mut self,
        name: &str,
        packet: u64,
        bytes: &[u8],
        out: &mut impl Write,
    ) -> Result<(), String> {
        self.text.clear();
        let errors = match self.format {
            Format::Line => line_output(bytes, &mut self.text),
            Format::Json => datagram_lines(Origin { file: name, packet }, bytes, &mut self.text),
        };
        match errors {
            Ok(errors) => {
                for e in &errors {
                    eprintln!("flowsift decode: {name}: packet {packet}: {e}");
                }
                self.failed |= !errors.is_empty();
            }
            Err(e) => {
                eprintln!("flowsift decode: {name}: packet {packet}: {e}");
                self.failed = true;
            }
        }
        out.write_all(self.text.as_bytes()).map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                BROKEN_PIPE.to_string()
            } else {
                e.to_string()
            }
        })
    }
}

/// Why a capture gave no datagram at all, when it did not: nothing printed must never look
/// like a capture without sFlow when the datagrams are there on another port.
fn nothing_taken(counts: &CaptureCounts, filter: PortFilter) -> Option<String> {
    if counts.taken > 0 {
        return None;
    }
    if counts.udp == 0 {
        return Some(format!(
            "no UDP datagram in its {} packet(s): nothing to decode",
            counts.packets
        ));
    }
    let PortFilter::Destination(port) = filter else {
        return None;
    };
    let mut ports: Vec<String> = counts
        .ports()
        .iter()
        .map(|(p, n)| format!("{n} to port {p}"))
        .collect();
    if counts.other_ports > 0 {
        ports.push(format!("{} to other ports", counts.other_ports));
    }
    Some(format!(
        "none of its {} UDP datagram(s) is to port {port} ({}); choose the port with --port PORT, \
         or take every UDP datagram with --any-port",
        counts.udp,
        ports.join(", ")
    ))
}

/// The sflowtool lines of one datagram, and the errors of the samples that had none.
fn line_output(
    bytes: &[u8],
    text: &mut String,
) -> Result<Vec<SampleError>, crate::sflow::DecodeError> {
    let datagram = Datagram::new_checked(bytes)?;
    let agent = datagram.agent_address();
    let mut errors = Vec::new();
    let mut next_index = 0;
    for element in datagram.samples() {
        match element {
            Ok(sample) => {
                next_index = sample.index + 1;
                if let Err(error) = sample_line(agent, &sample, text) {
                    errors.push(SampleError {
                        index: sample.index,
                        tag: Some(sample.tag),
                        error,
                    });
                }
            }
            Err(error) => {
                errors.push(SampleError {
                    index: next_index,
                    tag: None,
                    error,
                });
            }
        }
    }
    Ok(errors)
}
