//! `cpufleet collect`: an inventory from live hosts, through libvirt's own client library (the
//! `virt` crate over `libvirt.so`), in the layout `cpufleet-inventory` reads.
//!
//! Per host, over a read-only connection to its URI:
//!
//! ```text
//! DIR/POOL/HOST.xml          virConnectGetCapabilities            (virsh capabilities)
//! DIR/POOL/HOST.domcaps.xml  virConnectGetDomainCapabilities, KVM (virsh domcapabilities --virttype kvm)
//! DIR/POOL/HOST/GUEST.xml    virDomainGetXMLDesc(0) of each guest (virsh dumpxml)
//! DIR/POOL/HOST.meta.toml    libvirt and hypervisor versions, host name, time, URI (no credentials)
//! ```
//!
//! Hosts are collected in parallel, at most [`Options::jobs`] at a time, each within
//! [`Options::timeout`]: a host that does not answer in time is reported failed and its
//! connection left to itself (its thread can never write: only the coordinating thread writes,
//! and only for hosts still waited for). A host's files are first written under temporary names
//! (hidden, so the inventory reader passes over them), then renamed into place, so a failed host
//! leaves nothing behind and, with [`Options::update`], its previous files untouched.

mod fetch;
mod layout;
mod target;

pub use fetch::{fetch, HostData};
pub use layout::{prepare_dir, write_host, Written};
pub use target::{check_name, check_uri, parse_hosts, target_of_uri, Target};

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How hosts are collected.
#[derive(Clone, Debug)]
pub struct Options {
    /// Hosts collected at the same time (at least 1).
    pub jobs: usize,
    /// Longest time one host may take, from connecting to its last guest.
    pub timeout: Duration,
    /// Only the guests that are running (default: running and defined).
    pub running_only: bool,
    /// Replace the files of hosts already in the directory (only when their collection
    /// succeeds); without it the directory must be new or empty.
    pub update: bool,
}

/// What happened to one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its files were written.
    Collected(Written),
    /// Nothing was written for it: the reason (libvirt's error, the timeout, or the write's).
    Failed(String),
}

/// One host's result, in the order of the targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostReport {
    /// Its pool.
    pub pool: String,
    /// Its name in the inventory.
    pub name: String,
    /// Its URI as written in the metadata (no credentials).
    pub uri: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Collects every target into `dir` (already checked with [`prepare_dir`]), calling `on_host`
/// as each host finishes (for a progress bar); returns the reports in the targets' order.
pub fn collect(dir: &Path, targets: &[Target], opts: &Options, on_host: &dyn Fn(&HostReport)) -> Vec<HostReport> {
    virt::error::clear_error_callback();
    let jobs = opts.jobs.max(1);
    let (tx, rx) = mpsc::channel::<(usize, Result<HostData, String>)>();
    let mut reports: Vec<Option<HostReport>> = vec![None; targets.len()];
    // In flight: (target index, deadline).
    let mut waiting: Vec<(usize, Instant)> = Vec::with_capacity(jobs);
    let mut next = 0;
    let finish = |i: usize, outcome: Outcome, reports: &mut Vec<Option<HostReport>>| {
        let t = &targets[i];
        let r = HostReport { pool: t.pool.clone(), name: t.name.clone(), uri: t.shown_uri.clone(), outcome };
        on_host(&r);
        reports[i] = Some(r);
    };
    loop {
        while waiting.len() < jobs && next < targets.len() {
            let (i, uri, running_only, tx) = (next, targets[next].uri.clone(), opts.running_only, tx.clone());
            let spawned = std::thread::Builder::new().name(format!("collect-{i}")).spawn(move || {
                let r = std::panic::catch_unwind(|| fetch(&uri, running_only))
                    .unwrap_or_else(|_| Err("the libvirt client failed (panicked) on this host".into()));
                // The coordinator may have given up on this host (timeout): nothing to do then.
                let _ = tx.send((i, r));
            });
            match spawned {
                Ok(_) => waiting.push((i, Instant::now() + opts.timeout)),
                Err(e) => finish(i, Outcome::Failed(format!("cannot start a thread: {e}")), &mut reports),
            }
            next += 1;
        }
        let Some(&(_, deadline)) = waiting.iter().min_by_key(|w| w.1) else { break };
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, r)) => {
                let Some(pos) = waiting.iter().position(|w| w.0 == i) else { continue };
                waiting.swap_remove(pos);
                let outcome = match r {
                    Ok(data) => match write_host(dir, &targets[i], &data, opts.update) {
                        Ok(w) => Outcome::Collected(w),
                        Err(e) => Outcome::Failed(e),
                    },
                    Err(e) => Outcome::Failed(e),
                };
                finish(i, outcome, &mut reports);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let (late, rest): (Vec<_>, Vec<_>) = waiting.iter().partition(|w| w.1 <= now);
                waiting = rest;
                for (i, _) in late {
                    let why = format!("no answer within {} s (--timeout); nothing written", opts.timeout.as_secs_f64());
                    finish(i, Outcome::Failed(why), &mut reports);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the coordinator holds a sender"),
        }
    }
    reports.into_iter().map(|r| r.expect("every target finished")).collect()
}

/// Now as RFC 3339, UTC, to the second (`2026-12-06T23:10:00Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the Unix epoch as RFC 3339, UTC.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_answers() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_598_245), "2026-12-06T23:04:05Z");
    }
}
