//! `cpufleet-collect`: the work of `cpufleet collect -o DIR URI…` (or `--hosts FILE`), an
//! inventory from live hosts through libvirt's client library (`cpufleet_collect`), with a summary
//! at the end. The only binary of the package that links libvirt: `cpufleet collect` checks the
//! arguments and runs this one with them (`cpufleet_cli::collect_args`). It can also be run by
//! itself, with the same arguments. Exit 0 when every host was collected, 1 when some failed
//! (listed), 2 on bad arguments (before any host is contacted).

use clap::Parser;
use cpufleet_cli::collect_args::CollectArgs;
use cpufleet_cli::error::{CliError, CliResult};
use cpufleet_cli::progress::Bar;
use cpufleet_collect::{collect, parse_hosts, prepare_dir, target_of_uri, HostReport, Options, Outcome as HostOutcome};
use cpufleet_io::{print_stdout, read_file};
use cpufleet_sim::Observer;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

/// `cpufleet collect`'s command line, under the name users type.
#[derive(Parser)]
#[command(
    name = "cpufleet collect",
    version,
    about = "Collect an inventory from live hosts through libvirt (read-only connections)"
)]
struct Cli {
    #[command(flatten)]
    args: CollectArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&cli.args) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cpufleet: {e}");
            ExitCode::from(2)
        }
    }
}

/// Checks the hosts and `DIR`, collects, prints the summary; whether some host failed.
fn run(args: &CollectArgs) -> CliResult<bool> {
    args.check()?;
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
    Ok(reports.iter().any(|r| matches!(r.outcome, HostOutcome::Failed(_))))
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
