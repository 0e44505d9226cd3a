//! The libvirt-upgrade report: the rollout, its steps per direction and reason, per configuration
//! the verdict and the recommended change; the mixed fleet's report.

use crate::versions::{Refusal, Versions};
use cpufleet_engine::LibvirtVersion;
use serde::Serialize;

cpufleet_engine::closed_set! {
    /// Which hosts move first.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Order: "upgrade order" {
        /// Pool after pool, in spec order (one pool is mixed at a time).
        #[default]
        Pool = "pool",
        /// Oldest generation first, across the fleet.
        Generation = "generation",
        /// A random order drawn from the seed.
        Random = "random",
    }
}

/// The rollout's parameters (`--upgrade-steps`, `--upgrade-order`, `--upgrade-from`,
/// `--upgrade-to`, `--reverse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub steps: u32,
    pub order: Order,
    /// The release the fleet starts on.
    pub from: LibvirtVersion,
    /// The release the hosts move to (older than `from` for a downgrade).
    pub to: LibvirtVersion,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout { steps: 5, order: Order::Pool, from: LibvirtVersion::V9_0_0, to: LibvirtVersion::V11_3_0 }
    }
}

impl Rollout {
    /// A downgrade: the hosts move to an older release.
    pub fn reverse(&self) -> bool {
        self.to < self.from
    }
    /// The indices of the two releases in [`LibvirtVersion::ALL`] (the order of a synthetic
    /// fleet's views).
    pub fn indices(&self) -> (usize, usize) {
        (crate::versions::index(self.from), crate::versions::index(self.to))
    }

    /// The view indices of the two releases in `v` (a real fleet's views are the releases its
    /// scenario involves, which include these two).
    pub fn view_indices(&self, v: &Versions) -> (usize, usize) {
        let at = |r| v.index_of(r).expect("the rollout's releases are simulated");
        (at(self.from), at(self.to))
    }
}

/// The direction of a migration from a host on version index `sv` to one on `dv` in a fleet
/// moving from `old` to `new` (indices of [`LibvirtVersion::ALL`], ordered by release): 0 towards
/// the target (`new`), 1 away from it, 2 within one version. A host on a third version (a pool the
/// spec pins) goes forward when it moves the way the rollout does, by release order.
pub(super) fn direction(sv: usize, dv: usize, old: usize, new: usize) -> usize {
    if sv == dv {
        2
    } else if dv == new || (sv != new && (dv > sv) == (new > old)) {
        0
    } else {
        1
    }
}

cpufleet_engine::closed_set! {
    /// The direction of a migration between host versions, named as the report's tables name it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Direction: "migration direction" {
        /// From a host on the older release to one on the newer.
        OldToNew = "old→new",
        /// From a host on the newer release to one on the older.
        NewToOld = "new→old",
        /// Between hosts on the same release.
        Same = "same version",
    }
}

/// Migrations of one direction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DirCount {
    pub attempted: u64,
    pub refused: u64,
    /// Refusals per reason, in [`Refusal::ALL`] order, zero counts left out.
    pub reasons: Vec<ReasonCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReasonCount {
    pub reason: Refusal,
    pub refusals: u64,
}

/// One configuration at one step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConfigStep {
    pub started: u64,
    /// Per direction (old→new, new→old, same): attempted, refused.
    pub attempted: [u64; 3],
    pub refused: [u64; 3],
    /// Cross-version refusals the same hardware would accept under the guest's own version.
    pub version_refusals: u64,
    pub stranded: u64,
}

/// One step of the rollout.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutStep {
    pub step: u32,
    /// Hosts on the new version.
    pub hosts_new: u64,
    pub guests_started: u64,
    pub directions: Vec<DirCount>,
    pub stranded: u64,
    pub per_configuration: Vec<ConfigStep>,
}

/// One configuration over the whole rollout.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutConfig {
    pub name: String,
    pub cpu: String,
    /// No migration refused for a version reason and no guest stranded at any step.
    pub fully_mobile: bool,
    pub version_refusals: u64,
    pub max_stranded: u64,
    pub reasons: Vec<ReasonCount>,
    /// The most frequent refusal for a name the destination does not know, as libvirt says it.
    pub example: Option<String>,
    /// Guests of the configuration drawn, and how many of them started before the rollout.
    pub guests: u64,
    pub started: u64,
    /// Set when none of its guests starts before the rollout: the configuration must be fixed
    /// first (its most frequent start failure, as libvirt says it); no survival claim is made
    /// for it (`fully_mobile` is false, and there is no recommendation).
    pub fix_first: Option<String>,
    /// The smallest change that would let it survive (None when it survives).
    pub recommendation: Option<String>,
    /// The recommendation re-simulated (None: not verified, see [`verify`](super::verify::verify)).
    pub verified: Option<Verification>,
}

/// A recommendation applied and the rollout simulated again from the same seed.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// Version refusals of the configuration's guests of the pool the change is for, as run and
    /// with the change.
    pub pool_before: u64,
    pub pool_after: u64,
    /// Version refusals of the configuration over the whole fleet with the change.
    pub version_refusals_after: u64,
    /// Whether the configuration then stays fully mobile through the whole rollout (the change
    /// applies in its one pool; guests it no longer lets start do not count).
    pub survives: bool,
    /// Its guests started at step 0, as run and with the change.
    pub started_before: u64,
    pub started_after: u64,
    /// The most of its guests stranded at any step with the change (as run: the
    /// configuration's `max_stranded`).
    pub stranded_after: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LibvirtUpgradeReport {
    pub from: &'static str,
    pub to: &'static str,
    pub steps: u32,
    pub order: Order,
    pub reverse: bool,
    pub timeline: Vec<RolloutStep>,
    pub configurations: Vec<RolloutConfig>,
}

/// Hosts on one libvirt version.
#[derive(Clone, Debug, Serialize)]
pub struct VersionHosts {
    pub libvirt: &'static str,
    pub hosts: u64,
}

/// The migrate scenario on a fleet whose spec puts hosts on several libvirt versions: guests
/// start under their host's version and every migration is read and compared by the
/// destination's version, as in one step of the rollout.
#[derive(Clone, Debug, Serialize)]
pub struct MixedFleetReport {
    pub versions: Vec<VersionHosts>,
    /// The migrations (directions: old→new is 9.0.0 → 11.3.0).
    pub migrations: RolloutStep,
    pub configurations: Vec<RolloutConfig>,
}

/// A recommended change, as the re-simulation applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The configuration's CPU becomes a custom CPU of this model (its match and features kept),
    /// for the guests of this pool.
    Pin { pool: usize, model: String },
    /// This pool's hosts move first, all of them in the first step.
    UpgradeFirst { pool: usize },
}

impl Change {
    pub(crate) fn pool(&self) -> usize {
        match self {
            Change::Pin { pool, .. } | Change::UpgradeFirst { pool } => *pool,
        }
    }
}
