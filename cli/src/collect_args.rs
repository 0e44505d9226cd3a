//! `cpufleet collect -o DIR URI…` (or `--hosts FILE`): its arguments, and the hand-over to the
//! binary that does the work. Exit 0 when every host was collected, 1 when some failed (listed), 2
//! on bad arguments (before any host is contacted).
//!
//! The work is done by a second binary, `cpufleet-collect` (`src/bin/cpufleet-collect.rs`), the
//! only one that links libvirt: `cpufleet collect` parses and checks the arguments here, then runs
//! that binary from beside its own executable (else from PATH) with the same arguments and the
//! same standard streams, and exits with its code. So no other command loads libvirt's client
//! library and its dozens of shared objects at start.

use crate::error::{CliError, CliResult};
use clap::Args;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The helper binary's name (without the platform's executable suffix).
pub const HELPER: &str = "cpufleet-collect";

/// `cpufleet collect`'s arguments (one clap definition for both binaries).
#[derive(Args)]
pub struct CollectArgs {
    /// The inventory directory to write: new or empty, or with --update an earlier collection.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// libvirt URIs, one per host (qemu+ssh://root@host7/system, qemu+tls://host7/system,
    /// qemu:///system); each host is named by its URI's host (localhost for a local URI) and goes
    /// in the pool of --pool.
    #[arg(value_name = "URI")]
    pub uris: Vec<String>,
    /// Hosts to collect: TOML (`[[host]]` tables with pool, name, uri) or a plain list, one
    /// `POOL NAME URI` a line.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// The pool of the hosts given as URIs.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub pool: String,
    /// Hosts collected at the same time.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: u64,
    /// Seconds one host may take (connecting, its documents, its guests); a host that takes
    /// longer is reported failed and nothing of it is written.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Only the guests that are running (default: running and defined ones).
    #[arg(long)]
    pub running_only: bool,
    /// Replace the files of each host collected successfully in an existing inventory (guests
    /// that no longer exist are removed); hosts that fail keep their earlier files.
    #[arg(long)]
    pub update: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

impl CollectArgs {
    /// The checks of the arguments that need no libvirt (the ones clap cannot make): `--timeout`
    /// in (0, 86400] seconds. The hosts (`--hosts`, the URIs) and `DIR` are checked by
    /// `cpufleet-collect` before it contacts any host.
    pub fn check(&self) -> CliResult<()> {
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout <= 86_400.0) {
            return Err(CliError::new(format!("--timeout {}: expected seconds in (0, 86400]", self.timeout)));
        }
        Ok(())
    }
}

/// `cpufleet collect`: checks `args`, then runs `cpufleet-collect` with the arguments that
/// followed `collect` on this process's command line (`argv`, without the program name),
/// inheriting stdin, stdout and stderr, and returns its exit code. Without the `collect` feature,
/// or when the helper is found nowhere, an error (exit 2) that says so.
pub fn delegate(args: &CollectArgs, argv: &[OsString]) -> CliResult<i32> {
    args.check()?;
    if !cfg!(feature = "collect") {
        return Err(CliError::new(
            "collect: this cpufleet was built without collect (cargo's `collect` feature, on by default; it needs libvirt's client library)",
        ));
    }
    let rest = match argv.iter().position(|a| a == OsStr::new("collect")) {
        Some(i) => &argv[i + 1..],
        None => return Err(CliError::new("collect: the command line has no `collect`")),
    };
    let helper = find_helper()?;
    let status = std::process::Command::new(&helper)
        .args(rest)
        .status()
        .map_err(|e| CliError::new(format!("collect: cannot run {}: {e}", helper.display())))?;
    match status.code() {
        Some(code) => Ok(code),
        None => Err(CliError::new(format!("collect: {} ended without an exit code ({status})", helper.display()))),
    }
}

/// `cpufleet-collect`: beside this executable, else the first on PATH; else an error naming every
/// place looked at.
fn find_helper() -> CliResult<PathBuf> {
    let name = format!("{HELPER}{}", std::env::consts::EXE_SUFFIX);
    let mut looked = Vec::new();
    match std::env::current_exe() {
        Ok(exe) => {
            if let Some(dir) = exe.parent() {
                let p = dir.join(&name);
                if p.is_file() {
                    return Ok(p);
                }
                looked.push(format!("not in {}", dir.display()));
            }
        }
        Err(e) => looked.push(format!("this executable's directory unknown: {e}")),
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut on_path = false;
    for dir in std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()) {
        on_path = true;
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    looked.push(if on_path { "not on PATH".to_string() } else { "not on PATH (unset or empty)".to_string() });
    Err(CliError::new(format!(
        "collect: {name} not found ({}); `cargo install --path cli` installs it beside cpufleet, `cargo build --release -p cpufleet` builds it",
        looked.join(", ")
    )))
}
