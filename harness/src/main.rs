//! `authstore-conformance`: lists the conformance catalogue, or runs it against the
//! built-in backends and writes JSON, JUnit XML and Markdown reports.
//!
//! Exit status: 0 when nothing failed, 1 when a scenario failed or a report could not be
//! written, 2 on a usage error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `exit` prints help and version to stdout with status 0, usage errors to stderr
    // with status 2.
    let args = cli::Cli::try_parse().unwrap_or_else(|err| err.exit());
    cli::main(args)
}
