//! The migrate scenario on a fleet of several releases: one step of the rollout.

use super::model::*;
use super::rollout::*;
use crate::scenarios::migrate::{self};
use crate::versions::Versions;

/// What the checkers get from a mixed fleet: as [`RolloutRun`].
pub(crate) struct MixedRun {
    pub report: MixedFleetReport,
    pub accepted: Vec<(usize, u32, usize, u32)>,
}

/// The migrate scenario on a mixed fleet: `v` built with the pool baselines of version `first`
/// (the run's), each host on the version the spec gives it (the run's by default).
pub(crate) fn mixed(v: &mut Versions, first: usize, n_guests: u64) -> MixedRun {
    let ver = v.start_versions(first);
    let mut guests = migrate::draw_guests(&v.views[0], n_guests);
    let mut tally = Tally::new(v);
    // Forward is towards a newer release: from the oldest the fleet has to the newest.
    let oldest = ver.iter().map(|&x| x as usize).min().unwrap_or(first);
    let newest = ver.iter().map(|&x| x as usize).max().unwrap_or(first);
    tally.step(v, &mut guests, &ver, 0, (oldest, newest));
    let (configurations, _) = config_reports(v, &tally, first);
    let versions = v
        .releases
        .iter()
        .enumerate()
        .map(|(i, l)| VersionHosts {
            libvirt: l.as_str(),
            hosts: ver.iter().filter(|&&x| x as usize == i).count() as u64,
        })
        .filter(|h| h.hosts > 0)
        .collect();
    let migrations = tally.timeline.pop().expect("one step");
    MixedRun {
        report: MixedFleetReport { versions, migrations, configurations },
        accepted: tally.accepted.into_iter().collect(),
    }
}
