//! `cpufleet collect -o DIR URI…` (or `--hosts FILE`): an inventory from live hosts through
//! libvirt's client library (`cpufleet_collect`), with a summary at the end. Exit 0 when every
//! host was collected, 1 when some failed (listed), 2 on bad arguments (before any host is
//! contacted).

use crate::args::Outcome;
use crate::error::{CliError, CliResult};
use crate::progress::Bar;
use clap::Args;
use cpufleet_collect::{collect, parse_hosts, prepare_dir, target_of_uri, HostReport, Options, Outcome as HostOutcome};
use cpufleet_io::{print_stdout, read_file};
use cpufleet_sim::Observer;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

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

pub fn run(args: &CollectArgs) -> CliResult<Outcome> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 86_400.0) {
        return Err(CliError::new(format!("--timeout {}: expected seconds in (0, 86400]", args.timeout)));
    }
    let mut targets = Vec::new();
    if let Some(path) = &args.hosts {
        let bytes = read_file(path, 16 << 20)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CliError::file(path, "is not UTF-8 text"))?;
        targets = parse_hosts(text).map_err(|e| CliError::file(path, e))?;
    }
    for uri in &args.uris {
        let t = target_of_uri(uri, &args.pool).map_err(CliError::new)?;
        if let Some(o) = targets.iter().find(|o| o.pool == t.pool && o.name == t.name) {
            return Err(CliError::new(format!(
                "{uri}: host {}/{} is already collected from {} (name hosts in a --hosts file)",
                t.pool, t.name, o.shown_uri
            )));
        }
        targets.push(t);
    }
    if targets.is_empty() {
        return Err(CliError::new("no hosts: give URIs or --hosts FILE"));
    }
    prepare_dir(&args.output, args.update).map_err(CliError::new)?;
    let opts = Options {
        jobs: args.jobs as usize,
        timeout: Duration::from_secs_f64(args.timeout),
        running_only: args.running_only,
        update: args.update,
    };
    let progress = Bar::new(!args.quiet);
    progress.phase("collect", targets.len() as u64);
    let reports = collect(&args.output, &targets, &opts, &|_| progress.add(1));
    drop(progress);
    print_stdout(&summary(&args.output, &reports))?;
    let failed = reports.iter().any(|r| matches!(r.outcome, HostOutcome::Failed(_)));
    Ok(if failed { Outcome::Negative } else { Outcome::Ok })
}

/// The summary: hosts collected, guests written and removed, the hosts without domcapabilities
/// and why, the hosts that failed with libvirt's error.
fn summary(dir: &std::path::Path, reports: &[HostReport]) -> String {
    let mut o = String::new();
    let (mut ok, mut guests, mut removed) = (0, 0, 0);
    let mut no_domcaps = Vec::new();
    let mut failed = Vec::new();
    for r in reports {
        match &r.outcome {
            HostOutcome::Collected(w) => {
                ok += 1;
                guests += w.guests;
                removed += w.removed;
                if let Some(why) = &w.no_domcaps {
                    no_domcaps.push((r, why));
                }
            }
            HostOutcome::Failed(e) => failed.push((r, e)),
        }
    }
    let _ = writeln!(
        o,
        "collected {ok} of {} hosts into {}: {guests} guests written, {removed} removed, {} failed",
        reports.len(),
        dir.display(),
        failed.len()
    );
    if !no_domcaps.is_empty() {
        let _ = writeln!(
            o,
            "{} host(s) without HOST.domcaps.xml (the simulator derives their KVM view from the capabilities):",
            no_domcaps.len()
        );
        for (r, why) in &no_domcaps {
            let _ = writeln!(o, "  {}/{} ({}): {why}", r.pool, r.name, r.uri);
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(o, "failed (nothing written for these hosts; files of an earlier collection are kept):");
        for (r, e) in &failed {
            let _ = writeln!(o, "  {}/{} ({}): {e}", r.pool, r.name, r.uri);
        }
    }
    o
}
