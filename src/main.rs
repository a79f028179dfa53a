//! The `diffscope` binary: a thin shell over the library's command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    diffscope::cli::run(std::env::args_os())
}
