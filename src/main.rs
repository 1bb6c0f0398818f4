//! The `flowsift` binary: parse the command line, run it, map the outcome to an exit code.
//! Everything else lives in the library so that tests and benches drive the same code.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flowsift::cli::main()
}
