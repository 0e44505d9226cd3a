//! The entry of the migrate scenario: guest starts and live migrations, and what blocks them;
//! across releases (MIXED FLEET) on a fleet whose hosts run several; an inventory's guests.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::check::{merge, Acc, CheckReport};
use crate::config::{Config, InventoryReleases};
use crate::error::SimResult;
use crate::real::{left_out_list, multi_release, release_list, MultiRelease, RealGuest};
use crate::report::model::Section;
use crate::report::{ConfigRow, Report};
use crate::scenarios::entry::{Across, Checked, Entry, Needs, Prepare, Run, Source, Ran, Stages};
use crate::scenarios::guests::{self, GuestsReport, OwnRelease};
use crate::scenarios::libvirt_upgrade::{self as lu, model::MixedFleetReport};
use crate::scenarios::migrate::{blocker_rows, Guest, MigrateRun, Migrations, Part};
use crate::scenarios::pools::DataProblem;
use crate::scenarios::{Scenario, Sim};
use crate::versions::{self, Inputs, RealHosts};
use cpufleet_engine::{CpuMap, LibvirtVersion};

/// The migrate scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Migrate,
    needs: Needs { guests: true, ..Needs::FLEET },
    sections,
    #[cfg(test)]
    checks: &[Invariant::CpuStable, Invariant::Promotion, Invariant::Forbid, Invariant::Strict, Invariant::Fast],
};

/// MIXED FLEET on a fleet of several versions, else MIGRATE; then GUESTS on an inventory.
fn sections(r: &Report) -> Vec<Section<'_>> {
    let mut out = Vec::new();
    let m = &r.parts.migrate;
    // Inventory guests replace the synthetic ones: the synthetic section would be all zeros.
    if let Some(mixed) = &m.mixed_fleet {
        out.push(crate::scenarios::libvirt_upgrade::section::mixed_fleet(mixed));
    } else if r.has(Scenario::Migrate) && !(m.inventory_guests.is_some() && r.guests == 0) {
        out.push(section::migrate(r));
    }
    if let Some(g) = &m.inventory_guests {
        out.push(crate::scenarios::guests::section::guests(g));
    }
    out
}

/// Where the migrations run.
pub(crate) enum Mode {
    /// Under the run's release.
    Single,
    /// Across releases: the spec's pools on several (None), or an inventory's hosts on the
    /// releases their metadata names (the fleet under each, and the run's view's index).
    Mixed(Option<(MultiRelease, usize)>),
}

/// The migrate scenario's stages.
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = Part;
    type Prepared = Mode;
    type State = MigrateRun;
    type Carry = Mode;

    /// Across releases when the spec's pools, or the inventory's hosts, run several.
    fn prepare(p: &mut Prepare) -> SimResult<Option<Mode>> {
        let map = p.sim.map;
        let real = match p.source {
            Source::Inventory(Some(r)) => mixed_inventory(r, map, p.notes)?,
            _ => None,
        };
        Ok(Some(if real.is_some() {
            p.notes.push(real_mixed_note(map));
            Mode::Mixed(real)
        } else if p.sim.spec.is_mixed(map.version()) {
            p.notes.push(MIXED_NOTE.to_string());
            Mode::Mixed(None)
        } else {
            Mode::Single
        }))
    }

    fn run(r: &mut Run, mode: Mode) -> SimResult<Ran<Self>> {
        let mut part = Part::default();
        let mig = matches!(mode, Mode::Single)
            .then(|| super::run(&r.sim, &r.guests, &r.compat, r.sim.spec.migrations, r.config.progress));
        if let Some(m) = &mig {
            (part.migrations, part.blockers) = summary(&r.sim, &r.guests, m, &mut r.configurations);
        }
        if !r.real_guests.is_empty() {
            let mut g = guests::run(&r.sim, r.real_guests);
            if let Mode::Mixed(Some((m, first))) = &mode {
                own_releases(&r.sim, r.real_guests, &mut g, m, *first, r.config)?;
            }
            part.inventory_guests = Some(g);
        }
        Ok(Ran { part, state: mig, carry: mode })
    }

    /// The guest starts (sampled), then the migrations when it ran under one release.
    fn check(c: &Checked, state: Option<&MigrateRun>, report: &mut CheckReport) -> Acc {
        super::check::check(c.sim, state, c.check_all, report)
    }

    /// MIXED FLEET, with its checks.
    fn across(a: &Across, mode: Mode, part: &mut Part, checks: &mut CheckReport) -> SimResult<()> {
        let Mode::Mixed(real) = mode else { return Ok(()) };
        let (report, c) = match real {
            Some((m, first)) => mixed_on(&m.inputs, Some(&m.hosts), first, a.config)?,
            None => mixed_on(&Inputs::new(a.map, a.spec)?, None, versions::index(a.map.version()), a.config)?,
        };
        part.mixed_fleet = Some(report);
        merge(checks, &c);
        Ok(())
    }

    /// An inventory guest that cannot start on its own host.
    fn data_problems(part: &Part, out: &mut Vec<DataProblem>) {
        for r in part.inventory_guests.as_ref().map_or(&[][..], |g| &g.rows[..]) {
            if let (Some(e), Some(action)) = (&r.start_error, &r.start_action) {
                out.push(DataProblem {
                    subject: format!("guest {}/{}/{}", r.pool, r.host, r.name),
                    problem: format!("cannot start on its own host: {e}"),
                    action: action.clone(),
                });
            }
        }
    }
}

/// The releases MIXED FLEET involves on inventory `inv` under the run's release `run` (the
/// releases its hosts run, hosts without metadata on `run`, and `run`, whose pool baselines the
/// guests use), when its hosts run several; None when they run one.
pub fn mixed_releases(inv: &cpufleet_inventory::Inventory, run: LibvirtVersion) -> Option<Vec<LibvirtVersion>> {
    let mut v: Vec<_> = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| h.libvirt.unwrap_or(run)).collect();
    v.sort();
    v.dedup();
    (v.len() > 1).then(|| {
        v.push(run);
        v.sort();
        v.dedup();
        v
    })
}

/// An inventory whose hosts run several releases, under each of them (the hosts every one can
/// read; a note names the others), and the run's view's index; None (with a note when no host
/// is left) when they run one.
fn mixed_inventory(
    r: &InventoryReleases,
    map: &CpuMap,
    notes: &mut Vec<String>,
) -> SimResult<Option<(MultiRelease, usize)>> {
    let Some(involved) = mixed_releases(r.primary, map.version()) else { return Ok(None) };
    let (m, left) = multi_release(r.base, r.primary, r.reads, &involved)?;
    let Some(m) = m else {
        notes.push(format!(
            "the migrate scenario did not run across releases: no host can be read by every release the fleet runs \
             ({}): {}; it ran under libvirt {} alone",
            release_list(&involved),
            left_out_list(&left),
            map.version()
        ));
        return Ok(None);
    };
    if !left.is_empty() {
        notes.push(format!(
            "MIXED FLEET leaves out the hosts that one of the releases the fleet runs ({}) cannot read: {}",
            release_list(&involved),
            left_out_list(&left)
        ));
    }
    let first = m.inputs.maps.iter().position(|x| x.version() == map.version()).expect("involved");
    Ok(Some((m, first)))
}

const MIXED_NOTE: &str = "the spec puts hosts on several libvirt versions: the migrate scenario ran across versions \
    (MIXED FLEET: each guest started under its host's version, each migration read and compared by the destination's \
    version); pool baselines, the pool-dependent guest CPUs and the other scenarios follow the run's --libvirt version";

/// The note of a real fleet whose hosts run several releases.
fn real_mixed_note(map: &CpuMap) -> String {
    format!(
        "the inventory's hosts run several libvirt releases (each the one its HOST.meta.toml names; without one \
         libvirt {v}): the migrate scenario ran across releases (MIXED FLEET: each guest of the spec's \
         configurations started under its host's release, each migration read and compared by the destination's \
         release; the inventory's guests each also started on its own host under that host's release, GUESTS' \
         own_release in JSON); pool baselines, the pool-dependent guest CPUs, GUESTS' other columns and the other \
         scenarios follow libvirt {v}",
        v = map.version()
    )
}

/// The mixed-fleet migrations over `inputs` (a synthetic fleet generated from them, or the real
/// fleet `real`), with the pool baselines of view `first`, and their checks.
fn mixed_on(
    inputs: &Inputs,
    real: Option<&RealHosts>,
    first: usize,
    config: &Config,
) -> SimResult<(MixedFleetReport, CheckReport)> {
    let mut v = inputs.build(real, config.seed, config.fault, first)?;
    let guests = inputs.specs[first].guests;
    let run = lu::mixed(&mut v, first, guests);
    let mut checks = CheckReport::default();
    lu::check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
    Ok((run.report, checks))
}

/// On an inventory whose hosts run several releases: each inventory guest also started on its
/// own host under that host's release, and answered by every other host under its own
/// ([`guests::own_release`]); guests whose host is left out of MIXED FLEET keep `own_release`
/// unset.
fn own_releases(
    sim: &Sim,
    guests: &[RealGuest],
    report: &mut GuestsReport,
    m: &MultiRelease,
    first: usize,
    config: &Config,
) -> SimResult<()> {
    let v = m.inputs.real_versions(&m.hosts, config.seed, config.fault, first)?;
    let ver = v.start_versions(first);
    let f = &v.views[0].fleet;
    let index: std::collections::HashMap<(String, String), usize> =
        (0..f.n_hosts()).map(|h| ((f.pools[f.pool_of(h)].name.clone(), f.host_name(h)), h)).collect();
    let rows: Vec<Option<OwnRelease>> = {
        use rayon::prelude::*;
        guests
            .par_iter()
            .map(|g| {
                let key = (sim.fleet.pools[sim.fleet.pool_of(g.host)].name.clone(), sim.fleet.host_name(g.host));
                index.get(&key).map(|&h| guests::own_release(&v, &ver, h, g.cpu.as_ref(), &g.features))
            })
            .collect()
    };
    for (row, own) in report.rows.iter_mut().zip(rows) {
        row.own_release = own;
    }
    Ok(())
}

/// The migrate scenario's totals and blocker rows; adds the per-configuration counts to `rows`.
fn summary(
    sim: &Sim,
    guests: &[Guest],
    m: &MigrateRun,
    rows: &mut [ConfigRow],
) -> (Migrations, Vec<super::BlockerRow>) {
    let s = &m.stats;
    let migrations = Migrations {
        requested: if guests.iter().any(|g| g.class.is_some()) { sim.spec.migrations } else { 0 },
        attempted: s.attempted,
        succeeded: s.succeeded,
        refused: s.refused,
        cross_pool_attempted: s.cross_pool_attempted,
        cross_pool_succeeded: s.cross_pool_succeeded,
        passthrough_unsafe_naive: s.unsafe_naive,
        passthrough_unsafe_losing_features: s.unsafe_naive_losing,
    };
    for (c, &(a, ok)) in rows.iter_mut().zip(&s.per_template) {
        c.migrations_attempted = a;
        c.migrations_succeeded = ok;
    }
    (migrations, blocker_rows(sim, s))
}
