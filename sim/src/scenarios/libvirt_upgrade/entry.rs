//! The entry of the libvirt-upgrade scenario: libvirt rolled host by host from one release to another.

use super::{section, LibvirtUpgradeReport, Part, Rollout};
#[cfg(test)]
use crate::check::Invariant;
use crate::check::{merge, CheckReport};
use crate::config::Config;
use crate::error::SimResult;
use crate::real::{left_out_list, multi_release, release_list, MultiRelease};
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Across, Entry, Needs, Prepare, Run, Source, Ran, Stages};
use crate::versions::{Inputs, RealHosts};
use cpufleet_engine::LibvirtVersion;

/// The libvirt-upgrade scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::LibvirtUpgrade,
    needs: Needs::FLEET,
    sections,
    #[cfg(test)]
    checks: &[Invariant::VersionCompare, Invariant::VersionNames],
};

/// The LIBVIRT UPGRADE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.parts.libvirt_upgrade.libvirt_upgrade.iter().map(section::libvirt_upgrade).collect()
}

/// The libvirt-upgrade scenario's stages: all of its work is across releases, on its own state
/// (every release's view of the fleet), after the single-release state is dropped. On an
/// inventory the hosts start on their own releases (the fleet under each: `Some`).
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = Part;
    type Prepared = Option<MultiRelease>;
    type State = ();
    type Carry = Option<MultiRelease>;

    /// On an inventory: the inventory under every release of the rollout, each host on the one its
    /// metadata names; it does not run when the caller gave no reading per release or no host is
    /// left.
    fn prepare(p: &mut Prepare) -> SimResult<Option<Option<MultiRelease>>> {
        let r = match p.source {
            Source::Spec => return Ok(Some(None)),
            Source::Inventory(None) => {
                p.notes.push(
                    "the libvirt-upgrade scenario needs the inventory read by each release of the rollout, which this \
                     caller did not give; it did not run"
                        .into(),
                );
                return Ok(None);
            }
            Source::Inventory(Some(r)) => r,
        };
        let ro = p.config.rollout;
        let involved = rollout_releases(r.primary, &ro);
        let (m, left) = multi_release(r.base, r.primary, r.reads, &involved)?;
        if r.primary.pools.iter().flat_map(|p| &p.hosts).any(|h| h.libvirt.is_some_and(|v| v != ro.from)) {
            p.notes.push(format!(
                "libvirt-upgrade: each host starts on the release its metadata names (hosts without metadata on {}, \
                 --upgrade-from) and moves to {}",
                ro.from, ro.to
            ));
        }
        let Some(m) = m else {
            p.notes.push(format!(
                "the libvirt-upgrade scenario did not run: no host of the inventory can be read by every release of \
                 the rollout ({}): {}",
                release_list(&involved),
                left_out_list(&left)
            ));
            return Ok(None);
        };
        if !left.is_empty() {
            p.notes.push(format!(
                "libvirt-upgrade leaves out the hosts that a release of the rollout ({}) cannot read: {}",
                release_list(&involved),
                left_out_list(&left)
            ));
        }
        Ok(Some(Some(m)))
    }

    fn run(_: &mut Run, pre: Option<MultiRelease>) -> SimResult<Ran<Self>> {
        Ok(Ran { part: Part::default(), state: None, carry: pre })
    }

    fn across(a: &Across, real: Option<MultiRelease>, part: &mut Part, checks: &mut CheckReport) -> SimResult<()> {
        let (report, c) = match real {
            Some(m) => rollout_on(&m.inputs, Some(&m.hosts), a.config)?,
            None => rollout_on(&Inputs::new(a.map, a.spec)?, None, a.config)?,
        };
        part.libvirt_upgrade = Some(report);
        merge(checks, &c);
        Ok(())
    }
}

/// The releases libvirt-upgrade involves on inventory `inv`: the rollout's two and the ones its
/// hosts start on (their metadata's; without metadata the rollout's first).
pub fn rollout_releases(inv: &cpufleet_inventory::Inventory, rollout: &Rollout) -> Vec<LibvirtVersion> {
    let mut v: Vec<_> = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| h.libvirt.unwrap_or(rollout.from)).collect();
    v.extend([rollout.from, rollout.to]);
    v.sort();
    v.dedup();
    v
}

/// The libvirt-upgrade scenario over `inputs` (a synthetic fleet generated from them, or the
/// real fleet `real`), and its checks.
fn rollout_on(
    inputs: &Inputs,
    real: Option<&RealHosts>,
    config: &Config,
) -> SimResult<(LibvirtUpgradeReport, CheckReport)> {
    let progress = config.progress;
    let first = inputs.maps.iter().position(|m| m.version() == config.rollout.from).expect("the rollout's releases");
    let mut v = inputs.build(real, config.seed, config.fault, first)?;
    let guests = inputs.specs[first].guests;
    let mut run = super::run(&mut v, &config.rollout, guests, progress);
    let mut checks = CheckReport::default();
    super::check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
    drop(v);
    progress.phase("libvirt-upgrade: re-simulating the recommendations", 0);
    super::verify(inputs, real, &mut run, &config.rollout, config.seed, config.fault)?;
    Ok((run.report, checks))
}
