//! `flowsift completions SHELL` and `flowsift manpage`: documents generated from the
//! command-line definition itself (clap_complete, clap_mangen), so they never drift from
//! the flags.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::Cli;

/// Options of `flowsift completions`.
#[derive(Clone, Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Write the completion script for `args.shell` to stdout.
pub fn completions(args: CompletionsArgs) -> ExitCode {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "flowsift", &mut out);
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowsift: cannot write the completion script: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `flowsift run` does on each signal (the README's table, in roff).
const SIGNALS: &str = concat!(
    r#".SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop: receivers off, flow workers drained, sinks flushed within [shutdown] timeout_ms, "#,
    r#"final report on stderr, exit 0. A second one while stopping exits at once with status 1 "#,
    r#"(and says so).
.TP
\fBSIGHUP\fR
Re\-read the configuration file: flows and sinks change without stopping receive; "#,
    r#"an unchanged flow definition keeps its open flows; [rx], [workers], [scheduler] and "#,
    r#"[metrics] changes need a restart (logged). A file with errors is refused and the "#,
    r#"running configuration goes on.
.TP
\fBSIGUSR1\fR
Print the report so far to stderr and go on.
"#
);

/// Write flowsift(1), with a section per subcommand, to stdout.
pub fn manpage() -> ExitCode {
    let cmd = Cli::command();
    let mut buf: Vec<u8> = Vec::new();
    let rendered = clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .and_then(|()| {
            for sub in cmd.get_subcommands() {
                let name = sub.get_name();
                writeln!(buf, ".SH \"FLOWSIFT {}\"", name.to_uppercase())?;
                let sub = sub.clone();
                let man = clap_mangen::Man::new(sub);
                man.render_description_section(&mut buf)?;
                man.render_options_section(&mut buf)?;
            }
            buf.write_all(SIGNALS.as_bytes())?;
            Ok(())
        });
    let written = rendered.and_then(|()| std::io::stdout().lock().write_all(&buf));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowsift: cannot write the manual page: {e}");
            ExitCode::FAILURE
        }
    }
}
