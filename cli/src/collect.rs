//! `cpufleet collect`: the arguments are checked here, then `cpufleet-collect` does the work
//! (`cpufleet_cli::collect_args`, where the arguments are defined; `src/bin/cpufleet-collect.rs`).

use crate::args::Outcome;
use crate::error::CliResult;
pub use cpufleet_cli::collect_args::CollectArgs;

/// Runs `cpufleet-collect` with this command line's arguments and ends with its exit code: 0 and
/// 1 as outcomes; any other code (2: its error, already printed by it) ends this process at once
/// with that code.
pub fn run(args: &CollectArgs) -> CliResult<Outcome> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match cpufleet_cli::collect_args::delegate(args, &argv)? {
        0 => Ok(Outcome::Ok),
        1 => Ok(Outcome::Negative),
        code => std::process::exit(code),
    }
}
